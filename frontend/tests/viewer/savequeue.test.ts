// @vitest-environment node
import { describe, expect, it, vi } from "vitest";
import { Heartbeat } from "../../src/viewer/heartbeat";
import { SaveQueue, backoffDelay, type SaveStatus, type WriteOp } from "../../src/viewer/savequeue";
import type { ClientPoint } from "../../src/viewer/types";
import { LabelsWrite, createPointWrite, deletePointWrite, endpoint, simpleWrite, updatePointWrite } from "../../src/viewer/writes";
import { FakeScheduler, deferred, json, scriptedFetch, settle, type Call } from "./helpers";

const READ = "/api/v1/labeling/reads/12/";

/** Server double: accepts a write when its version matches, answers version+1. */
function versionedServer(start: number) {
  let version = start;
  return (call: Call): Response => {
    const sent =
      (call.body as { version?: number } | undefined)?.version ?? Number(new URL(call.url, "http://x").searchParams.get("version"));
    if (sent !== version) return json({ detail: "Stale version.", version }, 409);
    version++;
    return json({ version });
  };
}

function setup(answer: Parameters<typeof scriptedFetch>[0], version = 7) {
  const f = scriptedFetch(answer);
  const scheduler = new FakeScheduler();
  const statuses: SaveStatus[] = [];
  const onConflict = vi.fn();
  const queue = new SaveQueue({
    version,
    fetchImpl: f.fetch,
    scheduler,
    onStatus: (s) => statuses.push(s),
    onConflict,
  });
  return { ...f, scheduler, statuses, queue, onConflict };
}

describe("save queue", () => {
  it("sends writes one at a time and chains the versions", async () => {
    const { queue, calls, maxConcurrent, statuses } = setup(versionedServer(7));
    const labels = new Map([[3, ["IPH"]]]);
    const r1 = queue.enqueue(new LabelsWrite(READ, [3], 3, (i) => labels.get(i)));
    const r2 = queue.enqueue(simpleWrite(READ, "exclude", { reason: "surgery", note: "" }));
    const r3 = queue.enqueue(simpleWrite(READ, "include", {}));
    expect(statuses.at(-1)?.state).toBe("saving");
    await Promise.all([r1, r2, r3]);
    expect(calls.map((c) => [c.method, c.url, (c.body as { version: number }).version])).toEqual([
      ["PUT", `${READ}labels`, 7],
      ["POST", `${READ}exclude`, 8],
      ["POST", `${READ}include`, 9],
    ]);
    expect(calls[0]?.body).toEqual({ version: 7, slices: { "3": ["IPH"] }, last_slice_index: 3 });
    expect(maxConcurrent()).toBe(1);
    expect(queue.version).toBe(10);
    await settle(1);
    expect(queue.status).toMatchObject({ state: "saved", message: "Saved", pending: 0 });
  });

  it("coalesces label writes made while one is in flight", async () => {
    const gate = deferred<Response>();
    const { queue, calls } = setup((call, n) => (n === 0 ? gate.promise : json({ version: (call.body as { version: number }).version + 1 })));
    const labels = new Map<number, string[]>([[3, ["IPH"]]]);
    const get = (i: number) => labels.get(i);
    void queue.enqueue(new LabelsWrite(READ, [3], 3, get));
    await settle(1);
    expect(calls).toHaveLength(1); // in flight
    labels.set(3, ["IPH", "SAH"]);
    void queue.enqueue(new LabelsWrite(READ, [3], 3, get));
    labels.set(4, ["IPH"]);
    void queue.enqueue(new LabelsWrite(READ, [4], 4, get));
    labels.set(3, ["SAH"]);
    const last = queue.enqueue(new LabelsWrite(READ, [3], 4, get));
    expect(queue.waiting()).toHaveLength(1);
    gate.resolve(json({ version: 8 }));
    await last;
    expect(calls).toHaveLength(2);
    expect(calls[1]?.body).toEqual({ version: 8, slices: { "3": ["SAH"], "4": ["IPH"] }, last_slice_index: 4 });
  });

  it("does not coalesce across another kind of write (keeps the order)", async () => {
    const gate = deferred<Response>();
    const { queue, calls } = setup((call, n) => (n === 0 ? gate.promise : json({ version: (call.body as { version: number }).version + 1 })));
    const get = () => ["IPH"];
    void queue.enqueue(simpleWrite(READ, "include", {}));
    void queue.enqueue(new LabelsWrite(READ, [1], 1, get));
    void queue.enqueue(simpleWrite(READ, "exclude", { reason: "x", note: "" }));
    const done = queue.enqueue(new LabelsWrite(READ, [2], 2, get));
    expect(queue.waiting().map((o) => o.kind)).toEqual(["labels", "exclude", "labels"]);
    gate.resolve(json({ version: 8 }));
    await done;
    expect(calls.map((c) => c.url.split("/").pop())).toEqual(["include", "labels", "exclude", "labels"]);
  });

  it("409 blocks the queue: waiting writes are dropped and nothing more is sent", async () => {
    const { queue, calls, onConflict } = setup(() => json({ detail: "Stale version.", version: 9 }, 409));
    const get = () => ["IPH"];
    const r1 = queue.enqueue(new LabelsWrite(READ, [1], 1, get));
    const r2 = queue.enqueue(simpleWrite(READ, "include", {}));
    expect(await r1).toMatchObject({ ok: false, reason: "conflict" });
    expect(await r2).toMatchObject({ ok: false, reason: "conflict" });
    expect(calls).toHaveLength(1);
    expect(queue.blocked).toBe(true);
    expect(queue.status.state).toBe("conflict");
    expect(onConflict).toHaveBeenCalledOnce();
    expect(queue.conflictError?.detail).toBe("Stale version.");
    expect(await queue.enqueue(simpleWrite(READ, "submit", {}))).toMatchObject({ ok: false, reason: "conflict" });
    expect(calls).toHaveLength(1);
    await queue.flush(); // does not hang
  });

  it("retries network errors and 5xx with exponential backoff", async () => {
    let n = 0;
    const { queue, calls, scheduler, statuses } = setup(() => {
      n++;
      if (n === 1) throw new TypeError("Failed to fetch");
      if (n === 2) return json({ detail: "Bad gateway" }, 502);
      if (n === 3) throw new TypeError("Failed to fetch");
      return json({ version: 8 });
    });
    const result = queue.enqueue(simpleWrite(READ, "include", {}));
    await settle();
    expect(calls).toHaveLength(1);
    expect(queue.status).toMatchObject({ state: "offline", retryInMs: 1000, message: "Offline — retrying in 1 s" });
    scheduler.advance(999);
    await settle();
    expect(calls).toHaveLength(1);
    scheduler.advance(1);
    await settle();
    expect(calls).toHaveLength(2);
    expect(queue.status).toMatchObject({ state: "offline", retryInMs: 2000 });
    scheduler.advance(2000);
    await settle();
    expect(calls).toHaveLength(3);
    expect(queue.status.retryInMs).toBe(4000);
    queue.retryNow(); // e.g. the browser's "online" event
    expect(await result).toMatchObject({ ok: true, body: { version: 8 } });
    expect(calls).toHaveLength(4);
    expect(calls.every((c) => (c.body as { version: number }).version === 7)).toBe(true); // same op, same version
    expect(scheduler.delays).toEqual([1000, 2000, 4000]);
    await settle(1);
    expect(statuses.at(-1)?.state).toBe("saved");
    expect(backoffDelay(10, 1000, 30000)).toBe(30000);
  });

  it("keeps the retry state while more writes queue up behind an offline one", async () => {
    let fail = true;
    const { queue, calls, scheduler } = setup((call) => {
      if (fail) throw new TypeError("offline");
      return json({ version: (call.body as { version: number }).version + 1 });
    });
    const get = () => ["SDH"];
    void queue.enqueue(new LabelsWrite(READ, [1], 1, get));
    await settle();
    void queue.enqueue(new LabelsWrite(READ, [2], 2, get)); // merges into the waiting retry
    expect(queue.status.state).toBe("offline");
    fail = false;
    scheduler.advance(1000);
    await queue.flush();
    expect(calls.at(-1)?.body).toEqual({ version: 7, slices: { "1": ["SDH"], "2": ["SDH"] }, last_slice_index: 2 });
    expect(queue.status.state).toBe("saved");
  });

  it("drops a write the server rejects (400), shows the message, and goes on", async () => {
    const { queue, calls } = setup((call, n) =>
      n === 0 ? json({ subtype: ["\"XYZ\" is not a valid choice."] }, 400) : json({ version: (call.body as { version: number }).version + 1 }),
    );
    const onError = vi.fn();
    const bad: WriteOp = { ...simpleWrite(READ, "exclude", { reason: "", note: "" }), onError };
    const r1 = queue.enqueue(bad);
    const r2 = queue.enqueue(simpleWrite(READ, "include", {}));
    expect(await r1).toMatchObject({ ok: false, reason: "error" });
    await settle(1);
    expect(onError).toHaveBeenCalledOnce();
    expect(await r2).toMatchObject({ ok: true });
    expect((calls[1]?.body as { version: number }).version).toBe(7); // the rejected write did not bump it
    const { queue: q2 } = setup(() => json({ detail: "Invalid subtype." }, 400));
    await q2.enqueue(simpleWrite(READ, "include", {}));
    await settle(1);
    expect(q2.status).toMatchObject({ state: "error", message: "Not saved: Invalid subtype." });
  });

  it("point writes resolve the server id lazily; waiting writes can be cancelled", async () => {
    const gate = deferred<Response>();
    const { queue, calls } = setup((_call, n) => {
      if (n === 0) return gate.promise;
      return json({ version: 9 + n });
    });
    const p: ClientPoint = { key: "new-1", id: null, slice_index: 3, x: 250.5, y: 301, subtype: "IPH" };
    void queue.enqueue(
      createPointWrite(READ, p, {
        onCreated: (pt, created) => expect(created?.id).toBe(pt.id),
      }),
    );
    await settle(1);
    p.x = 260; // dragged while the POST is in flight
    void queue.enqueue(updatePointWrite(READ, p));
    const done = queue.enqueue(updatePointWrite(READ, p)); // coalesced
    expect(queue.waiting()).toHaveLength(1);
    gate.resolve(json({ point: { id: "abc-1", slice_index: 3, x: 250.5, y: 301, subtype: "IPH" }, version: 8 }, 201));
    await done;
    expect(p.id).toBe("abc-1");
    expect(calls[0]?.body).toEqual({ version: 7, slice_index: 3, x: 250.5, y: 301, subtype: "IPH" });
    expect(calls[1]).toEqual({ method: "PATCH", url: `${READ}points/abc-1`, body: { version: 8, x: 260, y: 301, subtype: "IPH" } });
    await queue.enqueue(deletePointWrite(READ, p));
    expect(calls[2]).toMatchObject({ method: "DELETE", url: `${READ}points/abc-1?version=10` });

    const orphan: ClientPoint = { key: "new-2", id: null, slice_index: 1, x: 1, y: 1, subtype: null };
    expect(await queue.enqueue(deletePointWrite(READ, orphan))).toMatchObject({ ok: true, skipped: true });
    const blocker = deferred<Response>();
    const { queue: q2, calls: c2 } = setup(() => blocker.promise);
    void q2.enqueue(simpleWrite(READ, "include", {}));
    const cancelled = q2.enqueue(createPointWrite(READ, orphan));
    expect(q2.cancelWaiting((op) => op.tag === "new-2")).toBe(1);
    expect(await cancelled).toMatchObject({ ok: false, reason: "cancelled" });
    blocker.resolve(json({ version: 8 }));
    await q2.flush();
    expect(c2).toHaveLength(1);
    expect(endpoint("/r/12", "labels")).toBe("/r/12/labels");
  });
});

describe("heartbeat", () => {
  it("beats every 15 s only while visible and recently used", () => {
    const scheduler = new FakeScheduler();
    const send = vi.fn(() => Promise.resolve());
    let visible = true;
    const hb = new Heartbeat({ send, isVisible: () => visible, now: () => scheduler.now, scheduler });
    hb.start();
    scheduler.advance(15000);
    expect(send).toHaveBeenCalledTimes(1);
    expect(send).toHaveBeenLastCalledWith(15);
    visible = false;
    scheduler.advance(15000);
    expect(send).toHaveBeenCalledTimes(1);
    visible = true;
    scheduler.advance(15000); // 45 s since the last interaction: still active
    expect(send).toHaveBeenCalledTimes(2);
    scheduler.advance(15000); // t = 60 s: exactly one minute since the last interaction
    expect(send).toHaveBeenCalledTimes(3);
    scheduler.advance(15000); // 75 s idle
    expect(send).toHaveBeenCalledTimes(3);
    hb.touch();
    scheduler.advance(15000);
    expect(send).toHaveBeenCalledTimes(4);
    hb.stop();
    scheduler.advance(60000);
    expect(send).toHaveBeenCalledTimes(4);
  });
});
