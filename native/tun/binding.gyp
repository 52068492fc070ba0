{
  # The TUN device addon of the root daemon. Plain C against Node-API (node_api.h) and libuv
  # (uv.h), both shipped with Node's headers: no node-addon-api, no dependencies.
  # The binaries tp ships are not built from this file: scripts/prebuild compiles the same source
  # with the same warnings for linux-x64 and linux-arm64 into prebuilds/ (installing tp never
  # compiles).
  # This is for a developer on another platform: `npx node-gyp rebuild --directory native/tun`
  # puts build/Release/tp_tun.node where lib/root/tun-addon.ts looks after prebuilds/. Off Linux
  # it builds a stub whose open() throws ENOSYS.
  "targets": [
    {
      "target_name": "tp_tun",
      "sources": ["src/tp_tun.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
