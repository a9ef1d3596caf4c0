// The fit report of one connection (GraphQL fitReport, operators): verdict, problems with what to
// change, ShipStation capacity. It reads the real systems, so it runs only when asked.

import { useState } from "preact/hooks";
import { gql } from "./api";

interface Problem { check: string; count: number; sentence: string; blocking: boolean }
interface Report {
  verdict: "fit" | "fits_with_changes" | "does_not_fit";
  problems: Problem[];
  capacity: { v1_calls_per_day: number; v1_budget_per_day: number; headroom_pct: number };
  notes: string[];
}

const VERDICT: Record<Report["verdict"], string> = {
  fit: "Fits: nothing to change.",
  fits_with_changes: "Fits with changes: the connector runs; fix what is listed.",
  does_not_fit: "Does not fit yet: fix what is marked blocking first.",
};

export function FitReport(props: { connection: string; canAct: boolean }) {
  const [report, setReport] = useState<Report | null>(null);
  const [state, setState] = useState<string | null>(null);
  if (!props.canAct) return <p class="note">Operators can run the fit report (it reads Sage and ShipStation).</p>;
  const run = async () => {
    setState("Reading Sage and ShipStation…");
    try {
      const d = await gql<{ fitReport: Report }>(`query($c: String!) { fitReport(connection: $c) }`, { c: props.connection });
      setReport(d.fitReport);
      setState(null);
    } catch (e) {
      setState(`The fit report failed: ${(e as Error).message}`);
    }
  };
  return (
    <div data-testid="fit-report">
      <button type="button" onClick={() => void run()}>Run the fit report</button>
      {state && <p class="note" role="status">{state}</p>}
      {report && (
        <>
          <p class={report.verdict === "fit" ? "ok" : "bad"} data-testid="fit-verdict">{VERDICT[report.verdict]}</p>
          {report.problems.length > 0 && (
            <table class="list" aria-label={`Fit problems of ${props.connection}`}>
              <thead><tr><th scope="col">Check</th><th scope="col">Count</th><th scope="col">What to change</th></tr></thead>
              <tbody>{report.problems.map((p) => (
                <tr key={p.check}><td class={p.blocking ? "bad" : ""}>{p.check}{p.blocking ? " (blocking)" : ""}</td><td>{p.count}</td><td>{p.sentence}</td></tr>
              ))}</tbody>
            </table>
          )}
          <p>ShipStation V1 on the busiest day: {report.capacity.v1_calls_per_day} of {report.capacity.v1_budget_per_day} calls ({report.capacity.headroom_pct}% headroom).</p>
          {report.notes.map((n, i) => <p class="note" key={i}>{n}</p>)}
        </>
      )}
    </div>
  );
}
