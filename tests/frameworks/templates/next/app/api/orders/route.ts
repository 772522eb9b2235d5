import orders from "../../orders.json";

export async function GET() {
  return Response.json(orders);
}
