#!/usr/bin/env bash
# Builds the pinned Consul agent used by the end-to-end tests that need
# Consul (script checks: Nomad's own service provider runs only http and tcp
# checks) from Consul's Go module, through the Go module proxy, and caches it
# under ${XDG_CACHE_HOME:-~/.cache}/nomad-driver-elide/consul/<pin>/consul.
# Prints the path of the binary on stdout; exits non-zero (and the tests then
# fail, never skip) when it cannot be built.
#
# The pin: Consul v1.22.0, a tagged release the proxy serves. Consul's go.mod
# replaces its own submodules with local directories (`api => ./api`, ...);
# a local replace cannot apply to a module built as a dependency, so those
# become requires of the submodules at the tags cut for the v1.22.0 release
# (the versions v1.22.0's go.mod itself requires). Its other directives that
# only the main module may carry (the exclude block) are carried over too.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/go_build.sh"

pin=${CONSUL_PIN:-v1.22.0}
case "$pin" in
  v1.22.0)
    consul_version=v1.22.0
    api_version=v1.33.0
    sdk_version=v0.17.0
    proto_public_version=v0.7.0
    envoyextensions_version=v0.9.0
    troubleshoot_version=v0.8.0
    go_directive=1.25.3
    # Hashes of the three submodule tags the checksum database here does not
    # know (see GONOSUMDB below), as the module proxy served them when this
    # pin was made.
    pinned_sums="github.com/hashicorp/consul/envoyextensions v0.9.0 h1:cjCQQKHZTDfivjmMlzzDvpwudjSdlMyiT0rw/ExbJLk=
github.com/hashicorp/consul/envoyextensions v0.9.0/go.mod h1:1SqIWCjKtgbHU2ThOtznAxDktkbRCWm/wgNjIuDM/r0=
github.com/hashicorp/consul/proto-public v0.7.0 h1:eHnDLHh8kBDxJZS1fYHNoh/JPjLN7FAwu1vLXOa8QxE=
github.com/hashicorp/consul/proto-public v0.7.0/go.mod h1:0EVZbKUi8/w5l6gTi4GZdcvGMG9k/CCkPmZVxJEBRpA=
github.com/hashicorp/consul/troubleshoot v0.8.0 h1:bgOY5JMsBQmrlhmNz97v4CnSr0ppb7Ob2fwPeDAn3hQ=
github.com/hashicorp/consul/troubleshoot v0.8.0/go.mod h1:+9DFCMwOdlcHI3OWwnIajaUr35GDgD+9NwNi630hGIY="
    nosumdb=github.com/hashicorp/consul/envoyextensions,github.com/hashicorp/consul/proto-public,github.com/hashicorp/consul/troubleshoot
    ;;
  *) echo "build-consul.sh: unknown CONSUL_PIN '$pin' (known: v1.22.0)" >&2; exit 2 ;;
esac

cache=${XDG_CACHE_HOME:-$HOME/.cache}/nomad-driver-elide/consul/$pin
bin=$cache/consul
exit_if_cached "$bin"

mkdir -p "$cache/src"
cd "$cache/src"
cat > go.mod <<MOD
module elide.test/consul-build

go $go_directive

require (
	github.com/hashicorp/consul $consul_version
	github.com/hashicorp/consul/api $api_version
	github.com/hashicorp/consul/envoyextensions $envoyextensions_version
	github.com/hashicorp/consul/proto-public $proto_public_version
	github.com/hashicorp/consul/sdk $sdk_version
	github.com/hashicorp/consul/troubleshoot $troubleshoot_version
)

exclude (
	github.com/hashicorp/go-msgpack v1.1.5
	github.com/hashicorp/go-msgpack v1.1.6
)
MOD
printf '%s\n' "$pinned_sums" > go.sum
# The checksum database reachable here (sum.golang.org through the proxy)
# answers 404 for three submodule tags: they skip it and are checked
# against the hashes pinned above (in go.sum) instead; a download that
# differs fails the build ("SECURITY ERROR").
export GONOSUMDB=$nosumdb
build_and_exit build-consul.sh Consul "$pin" github.com/hashicorp/consul "$consul_version" "$bin"
