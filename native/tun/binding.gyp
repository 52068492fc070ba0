{
  # The TUN device addon of the root daemon (lib/root/tun.ts loads build/Release/tp_tun.node).
  # Plain C against Node-API (node_api.h) and libuv (uv.h), both shipped with Node's headers:
  # no node-addon-api, no dependencies. Linux only; elsewhere it builds a stub whose open()
  # throws ENOSYS, so `npm install` still succeeds on a workstation without VIF support.
  "targets": [
    {
      "target_name": "tp_tun",
      "sources": ["src/tp_tun.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
