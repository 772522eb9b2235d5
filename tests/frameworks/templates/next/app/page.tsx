"use client";
import dynamic from "next/dynamic";
import { Dashboard } from "./Dashboard";

const Chart = dynamic(
  () => new Promise((r) => setTimeout(r, 400)).then(() => import("./Chart")),
  { ssr: false, loading: () => <p>Loading chart…</p> },
);

export default function Page() {
  return <Dashboard api="/api/orders" chart={<Chart />} />;
}
