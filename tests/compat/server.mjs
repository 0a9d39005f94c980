// The original plugin, as a real peer for the compatibility tests: Better Auth with the
// admin and organization plugins, email + password, and better-auth-attio-plugin 0.3.4,
// on SQLite, configured as the recordings in shared/peer/ were (see its README).
//
// Environment:
//   PORT            port on 127.0.0.1 (0 = any; the chosen one is printed)
//   DATABASE_PATH   SQLite file (default: a fresh file in the OS temp folder)
//   ATTIO_SECRET    the plugin's shared secret (legacy body secret)
//   SQLITE_JOURNAL_MODE, SQLITE_SYNCHRONOUS
//                   optional pragmas set through better-sqlite3 before anything else
//                   (e.g. WAL and NORMAL, for the comparison at equal durability); unset:
//                   better-sqlite3's defaults (rollback journal, synchronous FULL)
//
// It prints one line `compat-peer listening on http://127.0.0.1:PORT` when ready.
// Test-only routes (not part of the plugin): GET /__test/mail (mail "sent" so far),
// POST /__test/sql {"sql": "...", "params": [...]} to read or seed the database.
import http from "node:http";
import os from "node:os";
import path from "node:path";
import fs from "node:fs";
import Database from "better-sqlite3";
import { betterAuth } from "better-auth";
import { admin, organization } from "better-auth/plugins";
import { toNodeHandler } from "better-auth/node";
import { getMigrations } from "better-auth/db/migration";
import { attio } from "better-auth-attio-plugin";

const port = Number(process.env.PORT ?? 0);
const dbPath =
  process.env.DATABASE_PATH ??
  path.join(fs.mkdtempSync(path.join(os.tmpdir(), "compat-peer-")), "auth.db");
const secret = process.env.ATTIO_SECRET ?? "attio-test-secret";

const mail = [];
const db = new Database(dbPath);
if (process.env.SQLITE_JOURNAL_MODE) {
  db.pragma(`journal_mode = ${process.env.SQLITE_JOURNAL_MODE}`);
}
if (process.env.SQLITE_SYNCHRONOUS) {
  db.pragma(`synchronous = ${process.env.SQLITE_SYNCHRONOUS}`);
}

let baseURL = "http://127.0.0.1";
const options = () => ({
  baseURL,
  basePath: "/api/auth",
  secret: "compat-peer-better-auth-secret-0123456789",
  database: db,
  trustedOrigins: ["http://127.0.0.1"],
  emailAndPassword: {
    enabled: true,
    sendResetPassword: async ({ user, url, token }) => {
      mail.push({ kind: "reset-password", to: user.email, url, token });
    },
  },
  rateLimit: { enabled: false },
  plugins: [
    admin(),
    organization({
      sendInvitationEmail: async (data) => {
        mail.push({
          kind: "invitation",
          to: data.email,
          invitationId: data.id,
          organizationId: data.organization?.id,
          role: data.role,
        });
      },
    }),
    attio({ secret }),
  ],
});

const server = http.createServer();
server.listen(port, "127.0.0.1", async () => {
  const actual = server.address().port;
  baseURL = `http://127.0.0.1:${actual}`;
  const auth = betterAuth(options());
  const { runMigrations } = await getMigrations(auth.options);
  await runMigrations();
  const handler = toNodeHandler(auth);
  server.on("request", (req, res) => {
    if (req.url === "/__test/mail" && req.method === "GET") {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify(mail));
      return;
    }
    if (req.url === "/__test/sql" && req.method === "POST") {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        res.setHeader("content-type", "application/json");
        try {
          const { sql, params = [] } = JSON.parse(body);
          const stmt = db.prepare(sql);
          const out = stmt.reader ? stmt.all(...params) : stmt.run(...params);
          res.end(JSON.stringify(out));
        } catch (e) {
          res.statusCode = 400;
          res.end(JSON.stringify({ error: String(e) }));
        }
      });
      return;
    }
    handler(req, res);
  });
  console.log(`compat-peer listening on ${baseURL}`);
});

const stop = () => server.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
