// mysql_clear_password: the client sends its password as it is. moat relays that exchange only
// when both legs are encrypted (TLS) or local (unix socket), so that the password never crosses a
// network in clear; otherwise the login is refused before the client is asked.
import { passthrough } from './passthrough.ts';
import { cleartextRefused, type PluginFactory } from './plugin.ts';

export const clearPassword: PluginFactory = (ex) => {
  if (!(ex.client.secure && ex.backend.secure)) {
    const leg = ex.client.secure ? 'backend' : 'client';
    throw cleartextRefused(`(mysql_clear_password) over an unencrypted ${leg} connection`);
  }
  return passthrough(ex);
};
