/* Unit tests of the Nomad-facing config validation: the plugin config
 * (plugin_config.c) and the task config with everything StartTask derives
 * from it (task_config.c): script resolution, environment filtering, user
 * resolution, and the errors that name the field. */
#include "../check.h"

#include "plugin.h"
#include "task_config.h"
#include "user_policy.h"

#include <errno.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DP_INIT(N) HASHICORP__NOMAD__PLUGINS__DRIVERS__PROTO__##N##__INIT

static char root[64], task_dir[128];
static task_schema schema;

static void pack_str(msgpack_packer *pk, const char *s) {
  msgpack_pack_str(pk, strlen(s));
  msgpack_pack_str_body(pk, s, strlen(s));
}

/* {args, code, language, script} with NULL meaning nil. */
static msgpack_sbuffer task_cfg(const char *language, const char *script, const char *code) {
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  const char *vals[] = {NULL, code, language, script};
  const char *keys[] = {"args", "code", "language", "script"};
  msgpack_pack_map(&pk, 4);
  for (int i = 0; i < 4; i++) {
    pack_str(&pk, keys[i]);
    if (i == 0) {
      msgpack_pack_array(&pk, 2);
      pack_str(&pk, "--flag");
      pack_str(&pk, "value with spaces");
    } else if (vals[i]) {
      pack_str(&pk, vals[i]);
    } else {
      msgpack_pack_nil(&pk);
    }
  }
  return sb;
}

static int build(const char *language, const char *script, const char *code, const char *user,
                 task_request *tr, char *err, size_t errlen) {
  msgpack_sbuffer sb = task_cfg(language, script, code);
  Hashicorp__Nomad__Plugins__Drivers__Proto__TaskConfig tc = DP_INIT(TASK_CONFIG);
  Hashicorp__Nomad__Plugins__Drivers__Proto__TaskConfig__EnvEntry e[4], *env[4];
  const char *kv[4][2] = {{"NOMAD_TASK_NAME", "t"},
                          {"LD_PRELOAD", "/x.so"},
                          {"GLIBC_TUNABLES", "glibc.malloc.check=3"},
                          {"GREETING", "a=b"}};
  for (int i = 0; i < 4; i++) {
    Hashicorp__Nomad__Plugins__Drivers__Proto__TaskConfig__EnvEntry init =
        DP_INIT(TASK_CONFIG__ENV_ENTRY);
    e[i] = init;
    e[i].key = (char *)kv[i][0];
    e[i].value = (char *)kv[i][1];
    env[i] = &e[i];
  }
  tc.id = (char *)"a/t/1";
  tc.name = (char *)"t";
  tc.alloc_dir = root;
  tc.user = (char *)(user ? user : "");
  tc.msgpack_driver_config.data = (uint8_t *)sb.data;
  tc.msgpack_driver_config.len = sb.size;
  tc.n_env = 4;
  tc.env = env;
  err[0] = '\0';
  int rc = task_request_build(&tc, &schema, tr, err, errlen);
  msgpack_sbuffer_destroy(&sb);
  return rc;
}

static int env_has(char **envp, const char *entry) {
  for (; envp && *envp; envp++)
    if (strcmp(*envp, entry) == 0) return 1;
  return 0;
}

static void test_task_config(void) {
  task_request tr;
  char err[512], path[256];
  CHECK(cty_table_check(task_config_fields, task_config_nfields, err, sizeof err) == 0);

  CHECK(build("python", "local/ok.py", NULL, NULL, &tr, err, sizeof err) == 0);
  snprintf(path, sizeof path, "%s/local/ok.py", task_dir);
  CHECK(tr.script && strcmp(tr.script, path) == 0);
  CHECK(tr.code == NULL && strcmp(tr.language, "python") == 0);
  CHECK(tr.args && tr.args[0] && !strcmp(tr.args[1], "value with spaces") && !tr.args[2]);
  CHECK(env_has(tr.envp, "NOMAD_TASK_NAME=t") && env_has(tr.envp, "GREETING=a=b"));
  CHECK(!env_has(tr.envp, "LD_PRELOAD=/x.so"));
  CHECK(!env_has(tr.envp, "GLIBC_TUNABLES=glibc.malloc.check=3"));
  CHECK(strcmp(tr.task_dir, task_dir) == 0 && !tr.set_user);
  task_request_free(&tr);

  /* An absolute script path inside the task dir is fine too. */
  CHECK(build("python", path, NULL, NULL, &tr, err, sizeof err) == 0);
  task_request_free(&tr);

  CHECK(build("python", NULL, "print(1)", NULL, &tr, err, sizeof err) == 0);
  CHECK(tr.code && !strcmp(tr.code, "print(1)") && tr.script == NULL);
  task_request_free(&tr);

  CHECK(build("python", "local/ok.py", "print(1)", NULL, &tr, err, sizeof err) != 0);
  CHECK_STR_CONTAINS(err, "exactly one of fields \"script\" and \"code\" must be set (got both)");
  CHECK(build("python", NULL, NULL, NULL, &tr, err, sizeof err) != 0);
  CHECK_STR_CONTAINS(err, "(got neither)");
  CHECK(build(NULL, NULL, "x", NULL, &tr, err, sizeof err) != 0);
  CHECK_STR_CONTAINS(err, "field \"language\": required but not set");
  CHECK(build("", NULL, "x", NULL, &tr, err, sizeof err) != 0);
  CHECK_STR_CONTAINS(err, "field \"language\": must not be empty");
  CHECK(build("python", "local/none.py", NULL, NULL, &tr, err, sizeof err) != 0);
  CHECK_STR_CONTAINS(err, "field \"script\": local/none.py: No such file or directory");
  CHECK(build("python", "local/link.py", NULL, NULL, &tr, err, sizeof err) != 0);
  CHECK_STR_CONTAINS(err, "outside the task directory");
  CHECK(build("python", "../t-sibling/x.py", NULL, NULL, &tr, err, sizeof err) != 0);
  CHECK_STR_CONTAINS(err, "outside the task directory");
  CHECK(build("python", "local", NULL, NULL, &tr, err, sizeof err) != 0);
  CHECK_STR_CONTAINS(err, "is not a regular file");
  CHECK(build("python", NULL, "x", "no-such-user-elide", &tr, err, sizeof err) != 0);
  CHECK_STR_CONTAINS(err, "user \"no-such-user-elide\"");
  if (geteuid() == 0) {
    CHECK(build("python", NULL, "x", "nobody", &tr, err, sizeof err) == 0);
    CHECK(tr.set_user && tr.uid == 65534 && tr.gid == 65534 && tr.ngroups >= 1);
    task_request_free(&tr);
  }
}

/* Module task keys: merged into the schema, converted to typed options for
 * the chosen module, refused when they belong to another module. */
static const elide_key fake_task_keys[] = {
    {"mode_flag", ELIDE_VALUE_STRING, 0, "fast", "a string option with a default"},
    {"count", ELIDE_VALUE_INT, 0, NULL, "an int option"},
};
static const elide_key other_task_keys[] = {
    {"other_opt", ELIDE_VALUE_STRING, 0, NULL, "another module's option"},
    {"script", ELIDE_VALUE_STRING, 0, NULL, "clashes with the host"},
};
static const char *const fake_langs[] = {"python", NULL};
static const char *const other_langs[] = {"other", NULL};

static void test_module_options(void) {
  elide_module_descriptor fake = {.size = sizeof fake, .abi_major = 1, .name = "fake",
                                  .languages = fake_langs, .task_keys = fake_task_keys,
                                  .ntask_keys = 2};
  elide_module_descriptor other = {.size = sizeof other, .abi_major = 1, .name = "other",
                                   .languages = other_langs, .task_keys = other_task_keys,
                                   .ntask_keys = 1};
  elide_module_descriptor clash = other;
  clash.name = "clash";
  clash.task_keys = other_task_keys + 1;
  loaded_module mods[3];
  memset(mods, 0, sizeof mods);
  mods[0].desc = &fake;
  mods[1].desc = &other;
  mods[2].desc = &clash;
  module_registry reg = {mods, 3};
  task_schema s;
  char err[512];
  CHECK(task_schema_build(&s, &reg, err, sizeof err) == 0);
  CHECK(s.nfields == s.nhost + 3);
  CHECK_STR_CONTAINS(mods[2].error, "task key \"script\" is reserved by the host");

  /* {args, code, count, language, mode_flag, other_opt, script} */
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 4);
  pack_str(&pk, "code");
  pack_str(&pk, "x");
  pack_str(&pk, "count");
  msgpack_pack_int(&pk, 3);
  pack_str(&pk, "language");
  pack_str(&pk, "python");
  pack_str(&pk, "other_opt");
  msgpack_pack_nil(&pk);
  Hashicorp__Nomad__Plugins__Drivers__Proto__TaskConfig tc = DP_INIT(TASK_CONFIG);
  tc.id = (char *)"a/t/2";
  tc.name = (char *)"t";
  tc.alloc_dir = root;
  tc.msgpack_driver_config.data = (uint8_t *)sb.data;
  tc.msgpack_driver_config.len = sb.size;
  task_request tr;
  CHECK(task_request_build(&tc, &s, &tr, err, sizeof err) == 0);
  CHECK(task_request_options(&tr, &mods[0], err, sizeof err) == 0);
  CHECK(tr.noptions == 2);
  CHECK(tr.noptions == 2 && tr.options[0].is_set && !strcmp(tr.options[0].str, "fast"));
  CHECK(tr.noptions == 2 && tr.options[1].is_set && tr.options[1].i == 3 &&
        !strcmp(tr.options[1].str, "3"));
  task_request_free(&tr);

  /* Setting another module's key for this language is refused. */
  msgpack_sbuffer_clear(&sb);
  msgpack_pack_map(&pk, 3);
  pack_str(&pk, "code");
  pack_str(&pk, "x");
  pack_str(&pk, "language");
  pack_str(&pk, "python");
  pack_str(&pk, "other_opt");
  pack_str(&pk, "on");
  tc.msgpack_driver_config.data = (uint8_t *)sb.data;
  tc.msgpack_driver_config.len = sb.size;
  CHECK(task_request_build(&tc, &s, &tr, err, sizeof err) == 0);
  CHECK(task_request_options(&tr, &mods[0], err, sizeof err) != 0);
  CHECK_STR_CONTAINS(err, "field \"other_opt\" belongs to the other backend");
  task_request_free(&tr);

  /* A fraction for an int option names the field. */
  msgpack_sbuffer_clear(&sb);
  msgpack_pack_map(&pk, 3);
  pack_str(&pk, "code");
  pack_str(&pk, "x");
  pack_str(&pk, "count");
  msgpack_pack_double(&pk, 2.5);
  pack_str(&pk, "language");
  pack_str(&pk, "python");
  tc.msgpack_driver_config.data = (uint8_t *)sb.data;
  tc.msgpack_driver_config.len = sb.size;
  CHECK(task_request_build(&tc, &s, &tr, err, sizeof err) == 0);
  CHECK(task_request_options(&tr, &mods[0], err, sizeof err) != 0);
  CHECK_STR_CONTAINS(err, "field \"count\": expected an integer");
  task_request_free(&tr);
  msgpack_sbuffer_destroy(&sb);
  task_schema_free(&s);
}

static void test_env_denylist(void) {
  CHECK(env_name_is_denied("LD_PRELOAD"));
  CHECK(env_name_is_denied("LD_LIBRARY_PATH"));
  CHECK(env_name_is_denied("LD_AUDIT"));
  CHECK(env_name_is_denied("GLIBC_TUNABLES"));
  CHECK(env_name_is_denied("GCONV_PATH"));
  CHECK(!env_name_is_denied("PATH"));
  CHECK(!env_name_is_denied("OLD_PRELOAD"));
  CHECK(!env_name_is_denied("NOMAD_TASK_DIR"));
}

static void test_plugin_config(void) {
  plugin_config cfg;
  char err[512];
  CHECK(cty_table_check(plugin_config_fields, plugin_config_nfields, err, sizeof err) == 0);
  /* An empty block overrides nothing: the INI file and the modules'
   * declared defaults decide. */
  CHECK(plugin_config_decode(NULL, 0, &cfg, err, sizeof err) == 0);
  CHECK(!cfg.python_runtime[0] && !cfg.module_dir[0] && !cfg.state_dir[0] && !cfg.config_file[0]);
  CHECK(cfg.nmodule_options == 0);

  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 1);
  pack_str(&pk, "state_dir");
  pack_str(&pk, "relative/dir");
  CHECK(plugin_config_decode(sb.data, sb.size, &cfg, err, sizeof err) != 0);
  CHECK_STR_CONTAINS(err, "plugin config: field \"state_dir\": \"relative/dir\" must be an absolute path");
  msgpack_sbuffer_clear(&sb);
  msgpack_pack_map(&pk, 1);
  pack_str(&pk, "python_runtim");
  pack_str(&pk, "/usr/bin/python3");
  CHECK(plugin_config_decode(sb.data, sb.size, &cfg, err, sizeof err) != 0);
  CHECK_STR_CONTAINS(err, "unknown field \"python_runtim\"");
  msgpack_sbuffer_clear(&sb);
  msgpack_pack_map(&pk, 1);
  pack_str(&pk, "module_dir");
  msgpack_pack_true(&pk);
  CHECK(plugin_config_decode(sb.data, sb.size, &cfg, err, sizeof err) != 0);
  CHECK_STR_CONTAINS(err, "field \"module_dir\": expected string");
  msgpack_sbuffer_clear(&sb);
  msgpack_pack_map(&pk, 1);
  pack_str(&pk, "python_runtime");
  pack_str(&pk, "/opt/py/bin/python3.12");
  CHECK(plugin_config_decode(sb.data, sb.size, &cfg, err, sizeof err) == 0);
  CHECK(!strcmp(cfg.python_runtime, "/opt/py/bin/python3.12"));
  msgpack_sbuffer_destroy(&sb);
}

/* allow_root in the plugin block: unset (-1) unless given; a bool. */
static void test_allow_root_config(void) {
  plugin_config cfg;
  char err[512];
  CHECK(plugin_config_decode(NULL, 0, &cfg, err, sizeof err) == 0 && cfg.allow_root == -1);
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 1);
  pack_str(&pk, "allow_root");
  msgpack_pack_false(&pk);
  CHECK(plugin_config_decode(sb.data, sb.size, &cfg, err, sizeof err) == 0 && cfg.allow_root == 0);
  msgpack_sbuffer_clear(&sb);
  msgpack_pack_map(&pk, 1);
  pack_str(&pk, "allow_root");
  msgpack_pack_true(&pk);
  CHECK(plugin_config_decode(sb.data, sb.size, &cfg, err, sizeof err) == 0 && cfg.allow_root == 1);
  msgpack_sbuffer_clear(&sb);
  msgpack_pack_map(&pk, 1);
  pack_str(&pk, "allow_root");
  pack_str(&pk, "false");
  CHECK(plugin_config_decode(sb.data, sb.size, &cfg, err, sizeof err) != 0);
  CHECK_STR_CONTAINS(err, "field \"allow_root\"");
  msgpack_sbuffer_destroy(&sb);
}

/* The policy for every kind of effective user, as root and not. */
static void test_user_policy(void) {
  char err[512];
  task_request none, root_user, nobody;
  memset(&none, 0, sizeof none);
  root_user = none;
  root_user.set_user = 1;
  nobody = root_user;
  nobody.uid = nobody.gid = 65534;
  /* Allowed: everything passes. */
  CHECK(user_policy_check(1, &none, "", 0, 0, err, sizeof err) == 0);
  CHECK(user_policy_check(1, &root_user, "root", 0, 0, err, sizeof err) == 0);
  CHECK(user_policy_check(1, &none, "", 1, 0, err, sizeof err) == 0);
  /* Forbidden: a uid-0 user, no user under a root plugin, no user in
   * daemon mode (the daemon's user is unknown here). */
  CHECK(user_policy_check(0, &root_user, "toor", 0, 1000, err, sizeof err) == -EPERM);
  CHECK_STR_CONTAINS(err, "user \"toor\" is root (uid 0)");
  CHECK_STR_CONTAINS(err, "allow_root = false");
  CHECK(user_policy_check(0, &none, "", 0, 0, err, sizeof err) == -EPERM);
  CHECK_STR_CONTAINS(err, "would run as root (uid 0) like the plugin");
  CHECK(user_policy_check(0, &none, "", 1, 1000, err, sizeof err) == -EPERM);
  CHECK_STR_CONTAINS(err, "execution daemon's user");
  /* ...but a real user, or no user under a non-root plugin, runs. */
  CHECK(user_policy_check(0, &nobody, "nobody", 0, 0, err, sizeof err) == 0);
  CHECK(user_policy_check(0, &nobody, "nobody", 1, 0, err, sizeof err) == 0);
  CHECK(user_policy_check(0, &none, "", 0, 1000, err, sizeof err) == 0);
}

static void write_file(const char *rel, const char *content) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", task_dir, rel);
  FILE *f = fopen(path, "w");
  if (f) {
    fputs(content, f);
    fclose(f);
  }
}

int main(void) {
  snprintf(root, sizeof root, "/tmp/elide-tc-XXXXXX");
  if (!mkdtemp(root)) return 1;
  chmod(root, 0755);
  snprintf(task_dir, sizeof task_dir, "%s/t", root);
  char p[256];
  mkdir(task_dir, 0755);
  snprintf(p, sizeof p, "%s/local", task_dir);
  mkdir(p, 0755);
  snprintf(p, sizeof p, "%s/t-sibling", root);
  mkdir(p, 0755);
  write_file("local/ok.py", "print('ok')\n");
  snprintf(p, sizeof p, "%s/t-sibling/x.py", root);
  FILE *f = fopen(p, "w");
  if (f) fclose(f);
  snprintf(p, sizeof p, "%s/local/link.py", task_dir);
  CHECK(symlink("/etc/hostname", p) == 0);

  module_registry none = {NULL, 0};
  char err[256];
  CHECK(task_schema_build(&schema, &none, err, sizeof err) == 0);
  test_task_config();
  test_module_options();
  test_env_denylist();
  test_plugin_config();
  test_allow_root_config();
  test_user_policy();

  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  CHECK(system(cmd) == 0);
  task_schema_free(&schema);
  return CHECK_DONE();
}
