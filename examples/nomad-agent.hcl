# Nomad agent configuration that loads the elide driver. Copy (or link) the
# nomad-driver-elide binary into plugin_dir; the block label below must be
# the binary's file name, and jobs select the driver with driver = "elide".
plugin_dir = "/opt/nomad/plugins"

plugin "nomad-driver-elide" {
  config {
    # The deployment file (see examples/driver.ini): [driver], [module.<name>]
    # and [native.<name>] sections managed by your config tooling.
    config_file = "/etc/nomad-driver-elide/driver.ini"

    # Anything below overrides the file.
    # python_runtime = "/usr/bin/python3"
    # module_dir     = "/usr/local/lib/nomad-driver-elide/modules"
    # state_dir      = "/run/nomad-driver-elide"
    # module_options = ["wasm.engine=wazero", "js.runtime=/usr/local/bin/node"]
  }
}
