// bench_watercooler's Socket.IO peer: watercooler's fan-out done the Socket.IO way, on node.
//
// One process. Sockets connect to /socket.io/?EIO=4&transport=websocket (websocket-only, as
// Socket.IO's docs configure it: transports: ["websocket"], so no HTTP long-polling and no
// upgrade). A signed POST/PUT/DELETE /<task|sprint|user>/<pk>, signed as scrum signs its hooks
// (Django's TimestampSigner, salt "watercooler.hook", over "<method>:<url>:<sha256 of body>"),
// is checked and emitted to every socket as one "message" event with watercooler's fields;
// Socket.IO encodes and frames a broadcast once for all its sockets. GET /health answers 200.
//
//     WATERCOOLER_SECRET=... node server.js PORT

"use strict";

const crypto = require("node:crypto");
const http = require("node:http");
const { Server } = require("socket.io");

const SECRET = process.env.WATERCOOLER_SECRET;
const HOOK_SALT = "watercooler.hook";
const ACTIONS = { POST: "add", PUT: "update", DELETE: "remove" };
const ROUTE = /^\/(task|sprint|user)\/([0-9]+)$/;
let sequence = 0;

// Django's Signer.signature(): HMAC-SHA256 keyed with sha256(salt + "signer" + secret), base64url.
function djangoSignature(value) {
  const key = crypto.createHash("sha256").update(`${HOOK_SALT}signer${SECRET}`).digest();
  return crypto.createHmac("sha256", key).update(value).digest("base64url");
}

// The "<method>:<url>:<digest>" a TimestampSigner signature vouches for, or null if forged.
function signedValue(signature) {
  const cut = signature.lastIndexOf(":");
  const value = signature.slice(0, cut);
  const expected = Buffer.from(djangoSignature(value));
  const given = Buffer.from(signature.slice(cut + 1));
  if (cut < 0 || given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) {
    return null;
  }
  return value.slice(0, value.lastIndexOf(":"));
}

function announce(io, request, body, response) {
  const [, model, pk] = ROUTE.exec(request.url) || [];
  const url = `http://${request.headers.host}${request.url}`;
  const digest = crypto.createHash("sha256").update(body).digest("hex");
  const expected = `${request.method.toLowerCase()}:${url}:${digest}`;
  if (!model || !(request.method in ACTIONS)) {
    response.writeHead(404).end();
    return;
  }
  if (signedValue(request.headers["x-signature"] || "") !== expected) {
    response.writeHead(400).end("bad signature");
    return;
  }
  sequence += 1;
  io.emit("message", {
    model,
    id: Number(pk),
    action: ACTIONS[request.method],
    body: body.length ? JSON.parse(body) : null,
    channel: "all",
    seq: sequence,
    epoch: "socketio",
  });
  response.writeHead(200, { "Content-Type": "application/json" }).end('{"status": "ok"}');
}

const httpServer = http.createServer((request, response) => {
  if (request.method === "GET" && request.url === "/health") {
    response.writeHead(200).end("ok");
    return;
  }
  const chunks = [];
  request.on("data", (chunk) => chunks.push(chunk));
  request.on("end", () => announce(io, request, Buffer.concat(chunks), response));
});
const io = new Server(httpServer, { transports: ["websocket"], serveClient: false });

httpServer.listen(Number(process.argv[2]), "127.0.0.1");
