"""End-to-end tests of users and safety on a real Nomad dev agent built from
the pinned Nomad Go module, with the plugin block's allow_root = false: a
job without a user (the agent runs as root) and a job with user = "root"
are refused with the option named in `nomad alloc status`; a job with
user = "nobody" runs as uid/gid 65534 and sees only its own three file
descriptors.

Usage: test_e2e_safety.py <nomad-driver-elide binary>
Fails (never skips) when Nomad cannot be built or the agent cannot start,
and when not run as root (the agent must run as root to switch users).
Prints one line per check and a closing "N passed, N failed"."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_util import (check, check_nothing_left, check_refused, finish,  # noqa: E402
                      new_agent, nomad_binary, one_shot_job, run_tests, usage_ok, write_job)

WHOAMI = ("import os; print('ids', os.getuid(), os.geteuid(), os.getgid(), sorted(os.getgroups()));"
          " print('fds', sorted(int(f) for f in os.listdir('/proc/self/fd')))")

TASK = """
    task "{task}" {{
      driver = "elide"
{user}      config {{
        language = "python"
        code     = {code}
      }}
    }}
"""


def job_text(job, task, user=None, group="bad"):
    line = '      user   = "%s"\n' % user if user else ""
    return one_shot_job(job, TASK.format(task=task, user=line, code=json.dumps(WHOAMI)),
                        group=group)


def test_no_user_refused(agent):
    path = write_job(agent, "root-default.nomad.hcl", job_text("root-default", "bad"))
    _, events = check_refused(agent, path, "no user while the agent is root",
                              "allow_root = false",
                              named="the failure names the option allow_root = false")
    msgs = " | ".join(e.get("DisplayMessage", "") for e in events)
    check("the task sets no user, so it would run as root (uid 0)" in msgs,
          "no user while the agent is root: the failure says why (%s)" % msgs)


def test_root_user_refused(agent):
    path = write_job(agent, "root-user.nomad.hcl", job_text("root-user", "bad", user="root"))
    check_refused(agent, path, "user = root", 'user "root" is root (uid 0)',
                  named="the failure names the user and uid 0")


def test_nobody_runs(agent):
    path = write_job(agent, "as-nobody.nomad.hcl",
                     job_text("as-nobody", "who", user="nobody", group="g"))
    job = agent.run_job(path)
    alloc = agent.wait_alloc(job, ("complete", "failed"))
    check(alloc["ClientStatus"] == "complete", "nobody: the job completes (%s)" %
          alloc["ClientStatus"])
    out = agent.logs(alloc["ID"], "who")
    check("ids 65534 65534 65534 [65534]\n" in out,
          "nobody: the task runs as uid and gid 65534 with only group 65534 (%r)" % out)
    check("fds [0, 1, 2, 3]\n" in out,
          "nobody: the task sees only fds 0, 1, 2 (and the one listing them)")


def main():
    if not usage_ok(1, "test_e2e_safety.py <nomad-driver-elide binary>"):
        return 2
    if not check(os.geteuid() == 0, "running as root (needed to run tasks as another user)"):
        return finish()
    agent = new_agent(nomad_binary(), sys.argv[1], plugin_config={
        "python_runtime": "/usr/bin/python3", "allow_root": False})
    # `nobody` must be able to traverse the path to its task directory:
    # Nomad makes <data_dir>/alloc 0711 and task directories 0777, but
    # creates a missing data_dir 0700 (with its client/ state directory),
    # and the agent's private directory is 0700 too.
    os.chmod(agent.dir, 0o711)
    os.mkdir(os.path.join(agent.dir, "data"))
    os.chmod(os.path.join(agent.dir, "data"), 0o711)
    run_tests(agent, [(t.__name__ + " raised", t, agent)
                      for t in (test_no_user_refused, test_root_user_refused, test_nobody_runs)])
    check_nothing_left(sys.argv[1])
    return finish()


if __name__ == "__main__":
    sys.exit(main())
