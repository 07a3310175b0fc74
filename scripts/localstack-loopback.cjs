// Preloaded (NODE_OPTIONS=--require) into the node processes LocalStack starts, i.e.
// kinesis-mock: every server listens on 127.0.0.1 only, whatever host it asked for
// (kinesis-mock binds 0.0.0.0). Unix-socket and fd listeners are left alone.
"use strict";
const net = require("net");
const LOOPBACK = "127.0.0.1";
const listen = net.Server.prototype.listen;

net.Server.prototype.listen = function (...args) {
  const first = args[0];
  if (first !== null && typeof first === "object") {
    // Only plain option objects with a port; not a path, fd or handle.
    const plain = Object.getPrototypeOf(first) === Object.prototype;
    if (plain && first.path === undefined && first.fd === undefined && first.handle === undefined) {
      args[0] = { ...first, host: LOOPBACK };
    }
  } else if (typeof first === "number" || /^\d+$/.test(String(first ?? "0"))) {
    if (typeof args[1] === "string") {
      args[1] = LOOPBACK;
    } else {
      args.splice(1, 0, LOOPBACK);
    }
  }
  return listen.apply(this, args);
};
