# Nomad agent configuration that loads the elide driver. Copy (or link) the
# nomad-driver-elide binary into plugin_dir; the block label below must be
# the binary's file name, and jobs select the driver with driver = "elide".
plugin_dir = "/opt/nomad/plugins"

plugin "nomad-driver-elide" {
  config {
    # Absolute path of the python interpreter (default /usr/bin/python3).
    python_runtime = "/usr/bin/python3"

    # Where backend modules (*.so) are loaded from. Default: the module
    # directory installed next to the binary (../lib/nomad-driver-elide/modules).
    # module_dir = "/usr/local/lib/nomad-driver-elide/modules"

    # Per-task exit records live here so tasks survive plugin restarts.
    # state_dir = "/run/nomad-driver-elide"
  }
}
