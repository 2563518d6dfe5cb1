/**
 * The labeling viewer: mounts one read on the page and puts the parts
 * together. session.ts holds the state of the read, commands.ts changes it
 * (and queues the writes), view.ts shows it, input.ts turns events into
 * commands.
 */
import { ApiError, apiFetch, apiJson } from "../lib/api";
import { ViewerCommands, type CommandHooks } from "./commands";
import { Heartbeat } from "./heartbeat";
import { ViewerInput } from "./input";
import type { Action } from "./keymap";
import { SaveQueue, type SaveQueueOptions, type Scheduler } from "./savequeue";
import { ViewerSession } from "./session";
import { SliceCache, defaultFetcher, type SliceFetcher } from "./slices";
import type { ReadData } from "./types";
import { buildViewerDom, h, type ViewerDom } from "./ui";
import { ViewerView } from "./view";
import { endpoint } from "./writes";

export interface ViewerDeps extends CommandHooks {
  fetchImpl?: typeof fetch;
  /** Slice loader (default: GET hu_url through apiFetch). */
  fetchSlice?: SliceFetcher;
  scheduler?: Scheduler;
  now?: () => number;
  /** Send reading-time heartbeats (default true). */
  heartbeat?: boolean;
  devicePixelRatio?: number;
  sliceConcurrency?: number;
}

function errorText(err: unknown): string {
  if (err instanceof ApiError || err instanceof Error) return err.message;
  return String(err);
}

/** Mount the viewer on `root` (#viewer with data-read-url / data-queue-url). */
export async function mountViewer(root: HTMLElement, deps: ViewerDeps = {}): Promise<Viewer | null> {
  const doc = root.ownerDocument;
  const readUrl = root.dataset["readUrl"];
  root.classList.add("vw");
  if (!readUrl) {
    root.replaceChildren(h(doc, "p", { class: "vw-error", role: "alert" }, "Viewer: data-read-url is missing."));
    return null;
  }
  root.setAttribute("aria-busy", "true");
  root.replaceChildren(h(doc, "p", { class: "vw-loading", role: "status" }, "Loading the case…"));
  try {
    const init: Parameters<typeof apiJson>[1] = {};
    if (deps.fetchImpl) init.fetchImpl = deps.fetchImpl;
    const read = await apiJson<ReadData>(readUrl, init);
    root.removeAttribute("aria-busy");
    return new Viewer(root, read, readUrl, deps);
  } catch (err) {
    root.removeAttribute("aria-busy");
    const retry = h(doc, "button", { type: "button", class: "vw-btn" }, "Try again");
    retry.addEventListener("click", () => void mountViewer(root, deps));
    root.replaceChildren(
      h(doc, "div", { class: "vw-error", role: "alert" }, h(doc, "p", {}, `Could not load the case: ${errorText(err)}`), retry),
    );
    return null;
  }
}

/** Reading-time heartbeats for an editable read (null when off or read-only). */
function heartbeatFor(state: ViewerSession, deps: ViewerDeps, doc: Document): Heartbeat | null {
  if (deps.heartbeat === false || !state.editableRead) return null;
  return new Heartbeat({
    send: (seconds) => {
      const init: Parameters<typeof apiFetch>[1] = { method: "POST", json: { seconds } };
      if (deps.fetchImpl) init.fetchImpl = deps.fetchImpl;
      return apiFetch(endpoint(state.readUrl, "heartbeat"), init);
    },
    isVisible: () => doc.visibilityState !== "hidden",
    ...(deps.now ? { now: deps.now } : {}),
    ...(deps.scheduler ? { scheduler: deps.scheduler } : {}),
  });
}

export class Viewer {
  readonly state: ViewerSession;
  readonly dom: ViewerDom;
  readonly queue: SaveQueue;
  readonly slices: SliceCache;
  readonly view: ViewerView;
  readonly commands: ViewerCommands;
  private readonly input: ViewerInput;
  private readonly heartbeat: Heartbeat | null;

  constructor(
    readonly root: HTMLElement,
    readonly read: ReadData,
    readonly readUrl: string,
    deps: ViewerDeps = {},
  ) {
    const queueOptions: SaveQueueOptions = {
      version: read.version,
      onStatus: (st) => this.view.showSaveStatus(st),
      onConflict: (e) => this.commands.conflict(e),
    };
    if (deps.fetchImpl) queueOptions.fetchImpl = deps.fetchImpl;
    if (deps.scheduler) queueOptions.scheduler = deps.scheduler;
    this.queue = new SaveQueue(queueOptions);
    const state = new ViewerSession(read, readUrl, root.dataset["queueUrl"] || "/", this.queue);
    this.state = state;
    this.dom = buildViewerDom(root, read);
    this.slices = new SliceCache({
      urls: read.slices.map((s) => s.hu_url),
      shape: [state.rows, state.columns],
      fetcher: deps.fetchSlice ?? defaultFetcher(deps.fetchImpl),
      concurrency: deps.sliceConcurrency ?? 3,
      onLoad: (i) => this.view.sliceLoaded(i),
      onError: (i) => {
        if (i === state.current) this.view.requestRender();
      },
    });
    this.view = new ViewerView(state, this.dom, this.slices, deps.devicePixelRatio);
    this.heartbeat = heartbeatFor(state, deps, root.ownerDocument);
    this.commands = new ViewerCommands(state, this.view, this.slices, this.heartbeat, deps, root.ownerDocument.defaultView);
    this.input = new ViewerInput(state, this.view, this.commands, this.heartbeat, deps.now);

    this.input.bind();
    this.commands.measure();
    this.commands.fit();
    this.view.refreshAll();
    this.slices.focus(state.current);
    this.heartbeat?.start();
    root.dataset["ready"] = "";
  }

  /** Run a keymap action (as if its key was pressed). */
  perform(action: Action): void {
    this.input.perform(action);
  }

  destroy(): void {
    this.view.destroy();
    this.input.dispose();
    this.heartbeat?.stop();
    this.slices.dispose();
  }
}
