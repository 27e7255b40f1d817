/* Process-wide lookups on the daemon's state (see daemon.h). */
#include "daemon.h"

execd *execd_of(rpc_call *call) { return rpc_server_user(rpc_call_server(call)); }

/* The registry is fixed once the daemon serves: no lock is needed. */
loaded_module *execd_module_for(execd *d, const char *language, char *langs, size_t langs_len) {
  loaded_module *m = modules_for_language(&d->modules, language);
  if (!m && langs) modules_languages(&d->modules, langs, langs_len);
  return m;
}
