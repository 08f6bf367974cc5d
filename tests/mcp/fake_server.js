#!/usr/bin/env node
// A tiny MCP stdio server for the tests of src/mcp: it misbehaves on
// command (flags) in the ways server-everything does not.
//
//   --version=V    answer initialize with protocolVersion V (default: echo
//                  what the client asked for)
//   --silent       never answer initialize
//   --pages        split tools/list into two pages (nextCursor)
//   --garbage      after initialized, write lines that are not JSON-RPC
//   --big=N        with --garbage: also a line of N bytes
//   --ask          after initialized, send the requests
//                  sampling/createMessage (id "s1") and ping (id 7); the
//                  `report` tool returns the responses the client sent
//   --no-read      never read stdin after the handshake and the first
//                  tools/list (a stuck server)
//   --ignore-eof   keep running when stdin closes
//   --ignore-term  ignore SIGTERM
//
// Tools: echo {message}, exit {code} (exits without answering), env (its
// environment), report, rpc-error (answers with a JSON-RPC error),
// wait-for-cancel (answers only once the client cancels it: a late
// answer), add-tool {name} (adds a tool and sends list_changed).
"use strict";

const readline = require("readline");

const flags = {};
for (const arg of process.argv.slice(2)) {
  const [k, v] = arg.replace(/^--/, "").split("=");
  flags[k] = v === undefined ? true : v;
}

const received = {};
const out = (msg) => process.stdout.write(JSON.stringify(msg) + "\n");
const text = (t) => ({ content: [{ type: "text", text: t }] });
const schema = (props, required) => ({
  type: "object",
  properties: props,
  required: required,
});
const tools = [
  {
    name: "echo",
    description: "Echoes its message",
    inputSchema: schema({ message: { type: "string" } }, ["message"]),
    annotations: { readOnlyHint: true },
  },
  {
    name: "exit",
    title: "Exit",
    inputSchema: schema({ code: { type: "integer" } }, ["code"]),
  },
  { name: "env", description: "Its environment", inputSchema: schema({}, []) },
  { name: "report", description: "Responses seen", inputSchema: schema({}, []) },
  {
    name: "rpc-error",
    description: "Fails",
    inputSchema: schema({}, []),
    annotations: { idempotentHint: true },
  },
  { name: "wait-for-cancel", inputSchema: schema({}, []) },
  {
    name: "add-tool",
    inputSchema: schema({ name: { type: "string" } }, ["name"]),
  },
];
const waiting = new Set();

if (flags["ignore-term"]) process.on("SIGTERM", () => {});
// Without stdin, nothing would keep node running.
if (flags["ignore-eof"]) setInterval(() => {}, 1 << 30);
process.stderr.write("fake MCP server starting\n");

function afterInitialized() {
  if (flags.garbage) {
    const lines = [
      "this is not json",
      '{"foo":1}',
      "[1,2,3]",
      '{"jsonrpc":"1.0","id":1,"result":{}}',
      '{"jsonrpc":"2.0","id":4242,"result":{}}',
      '{"jsonrpc":"2.0"}',
      "[".repeat(100) + "]".repeat(100),
      "",
    ];
    if (flags.big) lines.push('{"jsonrpc":"2.0","method":"x","params":"' +
                              "a".repeat(Number(flags.big)) + '"}');
    for (const l of lines) process.stdout.write(l + "\n");
    process.stdout.write(Buffer.from([0xff, 0xfe, 0x22, 0x0a])); // not UTF-8
    process.stderr.write("garbage written\n");
  }
  if (flags.ask) {
    out({ jsonrpc: "2.0", id: "s1", method: "sampling/createMessage",
          params: { messages: [], maxTokens: 10 } });
    out({ jsonrpc: "2.0", id: 7, method: "ping" });
  }
}

function call(msg) {
  const p = msg.params || {};
  const args = p.arguments || {};
  switch (p.name) {
    case "echo":
      return out({ jsonrpc: "2.0", id: msg.id, result: text("Echo: " + args.message) });
    case "exit":
      process.exit(args.code);
    case "env":
      return out({ jsonrpc: "2.0", id: msg.id, result: text(JSON.stringify(process.env)) });
    case "report":
      return out({ jsonrpc: "2.0", id: msg.id, result: text(JSON.stringify(received)) });
    case "wait-for-cancel":
      return waiting.add(msg.id);
    case "add-tool":
      tools.push({ name: args.name, inputSchema: schema({}, []) });
      out({ jsonrpc: "2.0", method: "notifications/tools/list_changed" });
      return out({ jsonrpc: "2.0", id: msg.id, result: text("added") });
    case "rpc-error":
      return out({ jsonrpc: "2.0", id: msg.id,
                   error: { code: -32000, message: "deliberate failure" } });
    default:
      return out({ jsonrpc: "2.0", id: msg.id,
                   result: { content: [{ type: "text", text: "Tool " + p.name + " not found" }],
                             isError: true } });
  }
}

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  let msg;
  try {
    msg = JSON.parse(line);
  } catch (e) {
    return;
  }
  if (msg.method === undefined) {
    received[String(msg.id)] = msg;
    return;
  }
  switch (msg.method) {
    case "initialize":
      if (flags.silent) return;
      return out({ jsonrpc: "2.0", id: msg.id, result: {
        protocolVersion: flags.version || msg.params.protocolVersion,
        capabilities: { tools: { listChanged: true } },
        serverInfo: { name: "fake", version: "0.1.0" },
      } });
    case "notifications/initialized":
      afterInitialized();
      return;
    case "tools/list":
      if (flags.pages && !(msg.params && msg.params.cursor))
        return out({ jsonrpc: "2.0", id: msg.id,
                     result: { tools: tools.slice(0, 2), nextCursor: "page2" } });
      out({ jsonrpc: "2.0", id: msg.id,
            result: { tools: flags.pages ? tools.slice(2) : tools } });
      // Stuck once the handshake, tools/list included, is done: pausing
      // after `initialized` raced the client's tools/list, which then went
      // unread when it came in a later chunk.
      if (flags["no-read"]) {
        rl.pause();
        setInterval(() => {}, 1 << 30); // alive without reading
      }
      return;
    case "tools/call":
      return call(msg);
    case "notifications/cancelled":
      received.cancelled = msg.params;
      if (waiting.delete(msg.params.requestId))
        out({ jsonrpc: "2.0", id: msg.params.requestId, result: text("late") });
      return;
    default:
      if (msg.id !== undefined)
        out({ jsonrpc: "2.0", id: msg.id,
              error: { code: -32601, message: "Method not found" } });
  }
});
rl.on("close", () => {
  if (!flags["ignore-eof"]) process.exit(0);
});
