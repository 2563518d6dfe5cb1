/**
 * What every task page shares: load the task list (a 409 answer says the task is not open yet and why),
 * open an item, step to the previous or next one, and move on to the next open item after an answer.
 */
import { ApiError, apiJson, type ApiInit } from "../lib/api";
import { el, say } from "./dom";
import { fetchAll, isDone, type Neighbours, nextOpen, type Page, type TaskRow } from "./model";

export interface TaskDeps {
  fetchImpl?: typeof fetch;
}

export interface TaskContext {
  root: HTMLElement;
  apiUrl: string;
  studyUrl: string;
  deps: TaskDeps;
}

export abstract class Task<D extends Neighbours> {
  rows: TaskRow[] = [];
  doc: D | null = null;
  readonly status: HTMLElement;
  readonly body: HTMLElement;
  readonly heading = el("h2", { "data-role": "heading" });
  readonly message = el("p", { class: "rs-message", "data-role": "message", role: "status" });
  readonly previous = el("button", { type: "button", class: "btn btn-sm", "data-role": "previous" }, "◀ Previous");
  readonly next = el("button", { type: "button", class: "btn btn-sm", "data-role": "next" }, "Next ▶");

  constructor(readonly ctx: TaskContext) {
    this.status = ctx.root.querySelector<HTMLElement>("[data-role=status]") ?? el("p");
    this.body = el("div", { class: "rs-body", "data-role": "body", hidden: true });
    ctx.root.append(this.body);
    this.previous.addEventListener("click", () => this.step(this.doc?.previous ?? null));
    this.next.addEventListener("click", () => this.step(this.doc?.next ?? null));
  }

  /** What the finished task page says, and where it leads. */
  abstract readonly doneText: string;
  /** Build the page's parts into `body` once. */
  abstract build(): void;
  /** Show one item's document. */
  abstract render(doc: D): void;

  api<T>(url: string, init: ApiInit = {}): Promise<T> {
    const { fetchImpl } = this.ctx.deps;
    return apiJson<T>(url, fetchImpl ? { ...init, fetchImpl } : init);
  }

  async start(): Promise<void> {
    try {
      this.rows = await fetchAll<TaskRow>(this.ctx.apiUrl, (url) => this.api<Page<TaskRow>>(url));
    } catch (error) {
      this.closed(error instanceof ApiError ? error.message : String(error));
      return;
    }
    if (this.rows.length === 0) {
      this.closed("Nothing to do in this task.");
      return;
    }
    this.build();
    this.status.hidden = true;
    this.body.hidden = false;
    const first = nextOpen(this.rows);
    const row = first ?? this.rows[0];
    if (row) await this.open(row);
    if (!first) say(this.message, `All ${this.rows.length} done. ${this.doneText}`, "ok");
  }

  /** The task is not open (or empty): the reason and the way back. */
  closed(reason: string): void {
    say(this.status, reason, "error");
    this.status.after(el("p", {}, el("a", { href: this.ctx.studyUrl, class: "btn" }, "Back to the study")));
  }

  async open(row: TaskRow): Promise<void> {
    try {
      this.doc = await this.api<D>(row.url);
    } catch (error) {
      say(this.message, error instanceof ApiError ? error.message : String(error), "error");
      return;
    }
    this.previous.disabled = this.doc.previous === null;
    this.next.disabled = this.doc.next === null;
    say(this.message, "");
    this.render(this.doc);
  }

  async step(id: number | null): Promise<void> {
    const row = this.rows.find((r) => r.id === id);
    if (row) await this.open(row);
  }

  /** Record that the shown item is answered, then open the next open one (or say the task is done). */
  async answered(field: "submitted" | "has_reference" = "submitted"): Promise<void> {
    const current = this.doc;
    if (!current) return;
    this.rows = this.rows.map((r) => (r.id === current.id ? { ...r, [field]: true } : r));
    const upcoming = nextOpen(this.rows, current.id);
    if (upcoming) await this.open(upcoming);
    else this.finished();
  }

  finished(): void {
    const done = this.rows.filter(isDone).length;
    this.body.replaceChildren(
      el(
        "div",
        { class: "card", "data-role": "finished" },
        el("p", {}, `${done} of ${this.rows.length} done. ${this.doneText}`),
        el("a", { href: this.ctx.studyUrl, class: "btn btn-primary" }, "Back to the study"),
      ),
    );
  }

  /** "Case 2 of 6 · answered" */
  position(noun: string, doc: D, answered: boolean): string {
    return `${noun} ${doc.number} of ${doc.total}${answered ? " · answered" : ""}`;
  }
}
