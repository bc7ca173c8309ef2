// The admin side's own ledger, blocks and login-delay entries (the admin guard, guard.ts) as
// tables of schema `moat`, shaped as their gateway counterparts so the same queries work on both:
//   moat.admin_host_cache             ← performance_schema.host_cache
//   moat.admin_blocked_hosts          ← moat.blocked_hosts
//   moat.admin_failed_login_attempts  ← information_schema.CONNECTION_CONTROL_FAILED_LOGIN_ATTEMPTS
import type { Guard } from '../guard/guard.ts';
import { TABLES, type TableDef } from './tables.ts';

const ADMIN_NAMES: Readonly<Record<string, string>> = {
  host_cache: 'admin_host_cache',
  blocked_hosts: 'admin_blocked_hosts',
  CONNECTION_CONTROL_FAILED_LOGIN_ATTEMPTS: 'admin_failed_login_attempts',
};

export function adminTables(admin: Guard): TableDef[] {
  return TABLES.filter((t) => ADMIN_NAMES[t.name] !== undefined).map((t) => ({
    schema: 'moat',
    name: ADMIN_NAMES[t.name]!,
    columns: t.columns,
    rows: (src) => t.rows({ ...src, guard: admin }),
  }));
}
