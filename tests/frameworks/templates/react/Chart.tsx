export default function Chart() {
  return <div className="chart">Revenue by week</div>;
}
