/**
 * `kseed token create|list|revoke`: the seed service's users. Managed on the
 * state store itself, never through the API: whoever can read .kseed/ is
 * the seed's administrator, and a token must not be able to mint tokens.
 */
import type { Command } from 'commander';
import { InputError } from '../errors.js';
import { contextOf } from './context.js';
import { table } from './output.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

async function store(cmd: Command) {
  const ctx = contextOf(cmd);
  const { openState } = await import('../engine/state.js');
  return { ctx, store: openState(ctx.stateDir) };
}

export function register(program: Command): void {
  const token = program.command('token').description('API tokens of the seed service: create (the secret is shown once), list, revoke');

  token
    .command('create <name>')
    .description('a new token for NAME (a person or a pipeline); its secret is printed once, only its hash is kept')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const { ctx, store: s } = await store(cmd);
      try {
        const t = s.tokens.create(name);
        // the one place a secret is printed, on purpose: Output.result would (rightly) redact it
        if (ctx.out.json) process.stdout.write(`${JSON.stringify({ name: t.name, created_at: iso(t.created_at), secret: t.secret }, null, 2)}\n`);
        else process.stdout.write(`token ${t.name} created; its secret, shown only now (kseed keeps only a hash):\n${t.secret}\n`);
      } finally {
        s.close();
      }
    });

  token
    .command('list')
    .description('every token: name, created, last used, revoked (never a secret)')
    .action(async (_o: unknown, cmd: Command) => {
      const { ctx, store: s } = await store(cmd);
      try {
        const tokens = s.tokens.list().map((t) => ({ name: t.name, created_at: iso(t.created_at), last_used_at: iso(t.last_used_at), revoked_at: iso(t.revoked_at) }));
        ctx.out.result({ tokens }, () =>
          tokens.length
            ? table(['NAME', 'CREATED', 'LAST USED', 'REVOKED'], tokens.map((t) => [t.name, t.created_at!, t.last_used_at ?? undefined, t.revoked_at ?? undefined]))
            : 'no tokens: `kseed token create NAME` makes one',
        );
      } finally {
        s.close();
      }
    });

  token
    .command('revoke <name>')
    .description('revoke the token of NAME: the service refuses it from now on')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const { ctx, store: s } = await store(cmd);
      try {
        const revoked = s.tokens.revoke(name);
        // revoking twice succeeds (the state asked for is there); a name never issued is a typo
        if (!revoked && !s.tokens.list().some((t) => t.name === name)) throw new InputError(`no token named ${name} (kseed token list)`, [], { code: 'unknown-token' });
        ctx.out.result({ name, revoked: true, already: !revoked }, () => (revoked ? `token ${name} revoked` : `token ${name} was already revoked`));
      } finally {
        s.close();
      }
    });
}
