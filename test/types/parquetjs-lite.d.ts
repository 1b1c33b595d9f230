// parquetjs-lite ships no types; tests and benchmarks only use it to write fixtures.
declare module 'parquetjs-lite';
