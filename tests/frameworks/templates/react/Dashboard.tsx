"use client";
// The page generated apps are made of: data fetched, then simulated latency (query ?delay=ms,
// default 500), skeleton cards until then. ?chart adds a lazily loaded chart, ?crash throws 500 ms
// after the data arrived.
import { type ReactNode, useEffect, useState } from "react";

type Order = { id: number; customer: string; total: number };

export function Dashboard({ api, chart }: { api: string; chart: ReactNode }) {
  const [orders, setOrders] = useState<Order[] | null>(null);
  const [params, setParams] = useState<URLSearchParams | null>(null);
  const [crashed, setCrashed] = useState(false);
  useEffect(() => {
    const query = new URLSearchParams(window.location.search);
    setParams(query);
    fetch(api)
      .then((response) => response.json())
      .then((data: { orders: Order[] }) => {
        setTimeout(() => {
          setOrders(data.orders);
          if (query.has("crash")) setTimeout(() => setCrashed(true), 500);
        }, Number(query.get("delay") ?? 500));
      });
  }, [api]);
  if (crashed) throw new Error("Orders feed broke after loading");
  const total = orders ? orders.reduce((sum, order) => sum + order.total, 0) : 0;
  const stats = [
    ["Orders", orders?.length],
    ["Revenue", total.toFixed(2)],
    ["Customers", orders?.length],
    ["Average", orders ? (total / orders.length).toFixed(2) : 0],
  ] as const;
  return (
    <main>
      <header className="top">
        <img src="/bed-logo.png" width={40} height={40} alt="" />
        Orders dashboard
      </header>
      {orders && <div className="banner">All orders loaded</div>}
      <section className="cards">
        {stats.map(([label, value]) =>
          orders ? (
            <div key={label} className="card">
              {label}
              <b>{value}</b>
            </div>
          ) : (
            <div key={label} className="card skeleton">
              LOADING
            </div>
          ),
        )}
      </section>
      {orders ? (
        <ul className="orders">
          {orders.map((order) => (
            <li key={order.id}>
              <span>
                #{order.id} {order.customer}
              </span>
              <span>{order.total.toFixed(2)}</span>
            </li>
          ))}
        </ul>
      ) : (
        <p className="orders">Loading orders…</p>
      )}
      {params?.has("chart") && chart}
    </main>
  );
}
