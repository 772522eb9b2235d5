import { StrictMode, Suspense, lazy } from "react";
import { createRoot } from "react-dom/client";
import "./bed.css";
import { Dashboard } from "./Dashboard";

// Simulated latency before the chart's module loads, as generated apps do.
const Chart = lazy(() => new Promise((r) => setTimeout(r, 400)).then(() => import("./Chart")));

if (new URLSearchParams(window.location.search).has("broken")) {
  import("./Broken");
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <Dashboard
      api="/api/orders.json"
      chart={
        <Suspense fallback={<p>Loading chart…</p>}>
          <Chart />
        </Suspense>
      }
    />
  </StrictMode>,
);
