// A whole sale through a client generated from WarTawa's OpenAPI document (openapi-typescript
// types, openapi-fetch calls): a customer signs up and logs in, an admin puts a show on sale,
// the customer books two seats, meets a taken seat, pays, and is checked in at the door, once.
// Every request and answer is typed by the document, so `tsc` fails when the document changes
// under this code, and every answer is checked, so the run fails when the server and its
// document disagree.
//
// Usage: node dist/flow.js <base URL> <admin email> <admin password>

import assert from "node:assert/strict";
import createClient from "openapi-fetch";
import type { components, paths } from "./api.js";

type ErrorReason = components["schemas"]["ErrorReason"];

const [base, adminEmail, adminPassword] = process.argv.slice(2);
if (!base || !adminEmail || !adminPassword) {
  throw new Error("usage: node dist/flow.js <base URL> <admin email> <admin password>");
}
const api = createClient<paths>({ baseUrl: base });
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const inDays = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString();

async function logIn(email: string, password: string): Promise<string> {
  const { data, response } = await api.POST("/api/users/login", { body: { email, password } });
  assert.equal(response.status, 200, "login");
  assert.ok(data, "login answers a body");
  assert.equal(data.token_type, "Bearer");
  return data.token;
}

// The refusal's reason, which must be one the document lists (else this does not compile).
function assertReason(error: { error: ErrorReason } | undefined, expected: ErrorReason): void {
  assert.equal(error?.error, expected);
}

async function main(): Promise<void> {
  const email = `klien.${Date.now()}@example.com`;
  const password = "klien-rahasia-1";
  const registered = await api.POST("/api/users", {
    body: { name: "Klien Bertipe", email, password },
  });
  assert.equal(registered.response.status, 201, "sign-up");
  assert.equal(registered.data?.role, "customer");

  const customer = await logIn(email, password);
  const admin = await logIn(adminEmail!, adminPassword!);

  const created = await api.POST("/api/events", {
    headers: bearer(admin),
    body: {
      name: "Malam Klien Bertipe",
      venue: "Teater Kecil, Jakarta",
      date: inDays(30),
      capacity: 10,
      seats_per_row: 5,
      phases: [
        { name: "Normal", price: 100_000, quota: 10, start_date: inDays(-1), end_date: inDays(29) },
      ],
    },
  });
  assert.equal(created.response.status, 201, "create the show");
  const event = created.data!;
  assert.equal(event.status, "published");
  assert.ok(event.current_phase, "the show is on sale");
  assert.match(event.date, /[+-]\d\d:\d\d$|Z$/, "times carry their offset");

  const seats = await api.GET("/api/events/{id}/seats", { params: { path: { id: event.id } } });
  assert.equal(seats.response.status, 200, "the seat map");
  const free = seats.data!.filter((seat) => !seat.is_booked).map((seat) => seat.id);
  assert.ok(free.length >= 3, "free seats");
  const chosen = free.slice(0, 2);

  const booked = await api.POST("/api/bookings", {
    headers: bearer(customer),
    body: { event_id: event.id, seat_ids: chosen, quantity: chosen.length },
  });
  assert.equal(booked.response.status, 201, "book two seats");
  const booking = booked.data!;
  assert.match(booking.booking_code, /^BKG-[A-HJ-KM-NP-Z2-9]{5}$/);
  assert.equal(booking.status, "pending");

  const taken = await api.POST("/api/bookings", {
    headers: bearer(customer),
    body: { event_id: event.id, seat_ids: [chosen[0]!, free[2]!] },
  });
  assert.equal(taken.response.status, 409, "a taken seat");
  assertReason(taken.error, "seat_taken");

  const paid = await api.POST("/api/bookings/{code}/pay", {
    params: { path: { code: booking.booking_code } },
    headers: bearer(customer),
    body: { amount: booking.total_price, method: "BCA Virtual Account" },
  });
  assert.equal(paid.response.status, 200, "pay");
  assert.equal(paid.data!.booking.status, "confirmed");

  const door = { params: { path: { code: booking.booking_code } }, headers: bearer(admin) };
  const welcome = await api.POST("/api/bookings/{code}/checkin", door);
  assert.equal(welcome.response.status, 200, "check in");
  assert.deepEqual(welcome.data!.seat_labels, booking.seat_labels);
  const second = await api.POST("/api/bookings/{code}/checkin", door);
  assert.equal(second.response.status, 409, "a second scan");
  assertReason(second.error, "already_checked_in");

  console.log(`client flow: ${booking.booking_code} booked, paid and checked in once`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
