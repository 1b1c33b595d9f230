// Whether a precompute-logits command line may reach the teacher: decides, before the option
// parser has even loaded, whether to prestart the teacher worker. A cheap look ahead, not a
// parse: a run with --model or --demo, and not --help. A wrong guess costs only a worker that
// dropPrestartedWorker ends.
export function willRunTeacher(argv: string[]): boolean {
  const flag = (name: string) => argv.some((a) => a === name || a.startsWith(`${name}=`));
  return (flag('--model') || flag('--demo')) && !flag('--help') && !argv.includes('-h');
}
