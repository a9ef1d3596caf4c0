// Operator actions: a confirmation dialog, then the action, then its result in a live region.

import { useEffect, useRef, useState } from "preact/hooks";
import type { ComponentChildren } from "preact";

export interface PendingAction {
  title: string;
  explain: string;
  confirmLabel: string;
  run: () => Promise<string>;
}

export function ConfirmDialog(props: {
  action: PendingAction | null;
  onDone: (result: { ok: boolean; text: string }) => void;
  onCancel: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (props.action && !d.open) d.showModal();
    if (!props.action && d.open) d.close();
  }, [props.action]);
  const a = props.action;
  const go = async () => {
    if (!a) return;
    setBusy(true);
    try {
      const text = await a.run();
      props.onDone({ ok: true, text });
    } catch (e) {
      props.onDone({ ok: false, text: `${a.title} failed: ${(e as Error).message}` });
    } finally {
      setBusy(false);
    }
  };
  return (
    <dialog ref={ref} aria-labelledby="confirm-title" onCancel={(e) => { e.preventDefault(); props.onCancel(); }}>
      {a && (
        <form method="dialog" onSubmit={(e) => { e.preventDefault(); void go(); }}>
          <h2 id="confirm-title">{a.title}</h2>
          <p>{a.explain}</p>
          <div class="row">
            <button type="submit" class="primary" disabled={busy}>{busy ? "Working…" : a.confirmLabel}</button>
            <button type="button" onClick={props.onCancel} disabled={busy}>Keep as it is</button>
          </div>
        </form>
      )}
    </dialog>
  );
}

export function ResultNote(props: { result: { ok: boolean; text: string } | null }) {
  return (
    <p role="status" aria-live="polite" class={props.result ? (props.result.ok ? "note ok" : "note bad") : "note"} data-testid="action-result">
      {props.result?.text ?? ""}
    </p>
  );
}

export function Section(props: { title: string; children: ComponentChildren; id?: string }) {
  return (
    <section aria-labelledby={props.id}>
      <h2 id={props.id}>{props.title}</h2>
      {props.children}
    </section>
  );
}
