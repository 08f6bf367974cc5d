// The official OpenAI client against Troupe's /v1/chat/completions and
// /v1/models, unchanged: node chat.mjs BASE_URL API_KEY. Exits 0 when every
// check holds; otherwise prints the first that failed and exits 1.
import OpenAI from "openai";

const [baseURL, apiKey] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 20000 });

function check(ok, what, got) {
  if (!ok) {
    console.log(`FAILED: ${what}: ${JSON.stringify(got)}`);
    process.exit(1);
  }
  console.log(`ok: ${what}`);
}

async function status(promise) {
  try {
    await promise;
    return 200;
  } catch (e) {
    if (!(e instanceof OpenAI.APIError)) throw e;
    return e.status;
  }
}

const models = await client.models.list();
const ids = models.data.map((m) => m.id);
check(ids.includes("calc") && ids.includes("default"), "models lists the agents", ids);

const messages = [
  { role: "system", content: "Answer briefly." },
  { role: "user", content: "What is 17 * 23 + 4?" },
];
const plain = await client.chat.completions.create({ model: "calc", messages });
check(plain.object === "chat.completion", "a chat.completion", plain.object);
check(plain.model === "calc", "the model is the agent", plain.model);
const answer = plain.choices[0].message.content;
check(answer.includes("395"), "the agent called the calculator", answer);
check(plain.choices[0].finish_reason === "stop", "finish_reason stop", plain.choices[0]);
check(typeof plain.usage.total_tokens === "number", "usage", plain.usage);

const stream = await client.chat.completions.create({
  model: "calc", messages, stream: true, stream_options: { include_usage: true },
});
let text = "";
let chunks = 0;
let finish = null;
let usage = null;
for await (const chunk of stream) {
  check(chunk.object === "chat.completion.chunk", "a chunk", chunk) ;
  chunks++;
  if (chunk.usage) usage = chunk.usage;
  for (const c of chunk.choices) {
    text += c.delta.content ?? "";
    if (c.finish_reason) finish = c.finish_reason;
  }
}
check(text === answer, "the streamed text is the answer", { text, answer });
check(chunks > 3, "the answer came in pieces", chunks);
check(finish === "stop", "the stream ends with stop", finish);
check(usage !== null && typeof usage.total_tokens === "number", "a usage chunk", usage);

check(await status(client.chat.completions.create({ model: "nobody", messages })) === 404,
      "an unknown agent is 404", null);
check(await status(client.chat.completions.create({
  model: "calc", messages,
  tools: [{ type: "function", function: { name: "f", parameters: {} } }],
})) === 400, "tools from the client are refused", null);
check(await status(client.chat.completions.create({
  model: "calc", messages: [{ role: "wizard", content: "hi" }],
})) === 400, "a malformed role is refused", null);
check(await status(client.chat.completions.create({
  model: "calc", messages: [{ role: "user", content: "x".repeat(1 << 16) }],
})) === 400, "an oversized message is refused", null);
const badKey = new OpenAI({ baseURL, apiKey: "wrong-key-0123456789", maxRetries: 0 });
check(await status(badKey.models.list()) === 401, "a wrong key is 401", null);
console.log("all checks passed");
