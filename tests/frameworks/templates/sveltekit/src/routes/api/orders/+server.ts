import { json } from '@sveltejs/kit';
import orders from '$lib/orders.json';

export function GET() {
	return json(orders);
}
