// What a TypeScript web shop writes against the types `openapi-typescript`
// generates from the served document (`stockline.d.ts`, beside this file
// when `cargo xtask test` runs `tsc --noEmit` on it). It compiles only if
// the document names each union's shapes and tells the change log's kinds
// apart by `kind`.
import type { components, paths } from "./stockline";

type Schemas = components["schemas"];

const sale: Schemas["AdjustRequest"] = { sku: "KETTLE", delta: -1 };

type SignIn =
  paths["/v1/auth/token"]["post"]["requestBody"]["content"]["application/json"];
const asStore: SignIn = { client_id: "store-001", client_secret: "a-secret-of-16-chars" };
const asShop: Schemas["ChannelSignIn"] = { channel_id: "web", channel_secret: "a-secret-of-16-chars" };
const asAdmin: Schemas["AdminSignIn"] = { api_key: "an-admin-key-of-at-least-32-characters" };
const signIns: SignIn[] = [asStore, asShop, asAdmin];

const order: Schemas["PlaceHoldRequest"] = {
  reference: "order-10023",
  lines: [{ sku: "KETTLE", quantity: 2 }],
  allocation: { policy: "priority", stores: ["store-001"] },
};

// Narrowed by `kind`: each kind's fields are there, with the log's own.
function describe(event: Schemas["Event"]): string {
  switch (event.kind) {
    case "stock_adjusted":
      return `${event.offset}: ${event.store_id}/${event.sku} ${event.delta}`;
    case "hold_placed":
      return `${event.offset}: hold ${event.hold_id}`;
    default:
      return `${event.offset}: ${event.kind}`;
  }
}

type Page =
  paths["/v1/replication/changes"]["get"]["responses"][200]["content"]["application/json"];
function offsets(page: Page): number[] {
  return page.events.map((event) => event.offset);
}

// A problem's code is an open string: codes may be added.
function retryable(problem: Schemas["Problem"]): boolean {
  return problem.code === "rate_limited" || problem.code === "service_unavailable";
}

export { sale, signIns, order, describe, offsets, retryable };
