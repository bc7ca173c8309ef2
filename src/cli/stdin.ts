// The first line of standard input: how the CLI takes a secret (a password, a token) without it
// appearing in a process list or a shell history.
export async function firstLineOfStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
}
