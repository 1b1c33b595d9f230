// nginx as the reference static server: one worker, sendfile, no access log, serving a
// folder of files. It runs in the foreground (daemon off) as our child so it dies with us.
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { childrenOf } from './proc.js';
import { freePort, waitForHttp } from './net.js';

export interface Nginx { base: string; masterPid: number; workerPid: number; stop(): Promise<void> }

export async function startNginx(docRoot: string, workDir: string): Promise<Nginx> {
  mkdirSync(workDir, { recursive: true });
  // As root, nginx's worker drops to an unprivileged user, which must be able to read the files.
  for (const dir of [workDir, docRoot]) chmodSync(dir, 0o755);
  const port = await freePort();
  const temp = (name: string) => `${name}_temp_path ${join(workDir, name)};`;
  const conf = join(workDir, 'nginx.conf');
  writeFileSync(conf, `
daemon off;
master_process on;
worker_processes 1;
pid ${join(workDir, 'nginx.pid')};
error_log ${join(workDir, 'error.log')} warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  types { }
  default_type application/vnd.apache.arrow.stream;
  ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(temp).join('\n  ')}
  server {
    listen 127.0.0.1:${port};
    root ${docRoot};
  }
}
`);
  const child: ChildProcess = spawn('nginx', ['-c', conf, '-p', workDir, '-e', join(workDir, 'error.log')], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const base = `http://127.0.0.1:${port}`;
  await waitForHttp(`${base}/`, child);
  const workers = childrenOf(child.pid!);
  if (workers.length !== 1) throw new Error(`nginx: expected one worker process, found ${workers.length}`);
  return {
    base, masterPid: child.pid!, workerPid: workers[0],
    stop: async () => { child.kill('SIGTERM'); await exited; },
  };
}
