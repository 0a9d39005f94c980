/**
 * Shapes the backend's data (the plugin's original field names) into what the dialogs and
 * the widgets show. Pure functions. Dates in lists are printed in UTC so every viewer reads
 * the same; when a ban ends is printed in the viewer's own time zone (the runtime's).
 */
import {describeUserAgent, parseUserAgent} from "./user-agent"

/** "2026-11-23 08:49 UTC", or "—" for a missing or unreadable date. */
export function formatDateTime(value: string | number | null | undefined): string {
    if (value === null || value === undefined || value === "") return "—"
    const date = new Date(value)
    if (Number.isNaN(date.getTime())) return "—"
    const iso = date.toISOString()
    return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`
}

/**
 * "Dec 16, 2026, 10:56 AM EST": a moment in the time zone of whoever looks (the runtime's
 * default zone, i.e. the viewer's browser), with the zone named; "—" when unreadable.
 */
export function formatLocalDateTime(value: string | number | null | undefined): string {
    if (value === null || value === undefined || value === "") return "—"
    const date = new Date(value)
    if (Number.isNaN(date.getTime())) return "—"
    return new Intl.DateTimeFormat("en-US", {
        year: "numeric",
        month: "short",
        day: "numeric",
        hour: "numeric",
        minute: "2-digit",
        timeZoneName: "short",
    }).format(date)
}

/** A session as the `sessions` action returns it (signed protocol: ids, never tokens). */
export interface SessionData {
    id: string
    userAgent?: string | null
    ipAddress?: string | null
    createdAt?: string | null
    expiresAt?: string | null
    impersonatedBy?: string | null
}

/** One row of the sessions dialog. */
export interface SessionRow {
    id: string
    device: string
    browser: string
    summary: string
    ip: string
    created: string
    expires: string
    impersonatedBy: string
}

/** Rows for the sessions dialog, in the backend's order (newest first). */
export function sessionRows(data: unknown): Array<SessionRow> {
    const sessions = extractArray(data, "sessions")
    return sessions
        .filter((s): s is SessionData => typeof s === "object" && s !== null && typeof (s as SessionData).id === "string")
        .map((s) => {
            const info = parseUserAgent(s.userAgent)
            return {
                id: s.id,
                device: info.device === "Unknown" ? "Unknown device" : `${info.device} (${info.os})`,
                browser: info.browser,
                summary: describeUserAgent(s.userAgent),
                ip: s.ipAddress && s.ipAddress.trim() !== "" ? s.ipAddress : "Unknown IP",
                created: formatDateTime(s.createdAt),
                expires: formatDateTime(s.expiresAt),
                impersonatedBy: s.impersonatedBy && s.impersonatedBy.trim() !== "" ? s.impersonatedBy : "—",
            }
        })
}

/** What the sessions widget shows: how many sessions are active and the newest of them. */
export interface SessionSummary {
    activeCount: number
    /** The newest session, or null when none is active. */
    latest: SessionRow | null
    /** The impersonating admin of the newest session, or null. */
    latestImpersonatedBy: string | null
}

/**
 * The sessions widget's numbers from the `sessions` answer: its `activeCount` (sessions not
 * expired), else every listed session; the newest listed session when any is active.
 */
export function sessionSummary(data: unknown): SessionSummary {
    const rows = sessionRows(data)
    const d = typeof data === "object" && data !== null && !Array.isArray(data) ? (data as Record<string, unknown>) : {}
    const counted = typeof d.activeCount === "number" && Number.isFinite(d.activeCount) ? Math.max(0, Math.floor(d.activeCount)) : rows.length
    const latest = counted > 0 ? (rows[0] ?? null) : null
    const by = latest && latest.impersonatedBy !== "—" ? latest.impersonatedBy : null
    return {activeCount: counted, latest, latestImpersonatedBy: by}
}

/** What the invitations widget shows: how many invitations are pending and the newest. */
export function invitationSummary(data: unknown): {pendingCount: number; latest: InvitationRow | null} {
    const pending = pendingInvitations(data)
    return {pendingCount: pending.length, latest: pending[0] ?? null}
}

/** The `user-details` answer: ban state and role. */
export interface UserDetails {
    banned: boolean
    banReason: string | null
    bannedUntil: string | null
    role: string | null
}

/** Reads `user-details` data leniently (missing fields mean "not banned", "no role"). */
export function userDetails(data: unknown): UserDetails {
    const d = typeof data === "object" && data !== null ? (data as Record<string, unknown>) : {}
    return {
        banned: d.banned === true,
        banReason: typeof d.banReason === "string" && d.banReason !== "" ? d.banReason : null,
        bannedUntil: typeof d.bannedUntil === "string" || typeof d.bannedUntil === "number" ? String(d.bannedUntil) : null,
        role: typeof d.role === "string" && d.role !== "" ? d.role : null,
    }
}

/** The widget's lines: "Banned until … (reason)" / "Active", and the role. */
export function banStateText(details: UserDetails): {status: string; detail: string; color: "red" | "green"} {
    if (!details.banned) return {status: "Active", detail: "Not banned", color: "green"}
    const until = details.bannedUntil ? `until ${formatLocalDateTime(details.bannedUntil)}` : "permanently"
    const reason = details.banReason ? `Reason: ${details.banReason}` : "No reason given"
    return {status: `Banned ${until}`, detail: reason, color: "red"}
}

/** Ban durations offered in the dialog; the value is seconds, or "never". */
export const BAN_DURATIONS: Array<{value: string; label: string}> = [
    {value: "never", label: "Never expires"},
    {value: "3600", label: "1 hour"},
    {value: "86400", label: "1 day"},
    {value: "604800", label: "7 days"},
    {value: "2592000", label: "30 days"},
    {value: "31536000", label: "1 year"},
]

/** When a ban made now with `duration` (seconds, or "never") would end, in the viewer's zone. */
export function banEndsText(duration: string | undefined, nowMs: number): string {
    const seconds = Number.parseInt(duration ?? "", 10)
    if (!Number.isFinite(seconds) || seconds <= 0) return "The ban does not end until someone unbans the user."
    return `The ban ends ${formatLocalDateTime(nowMs + seconds * 1000)}.`
}

/**
 * `update-ban-status` params from the dialog's values. Absent values are left out rather
 * than sent as null (no reason; no expiry = permanent), which every plugin version accepts.
 */
export function banParams(input: {banned: boolean; reason?: string; duration?: string}): Record<string, unknown> {
    if (!input.banned) return {banned: false}
    const params: Record<string, unknown> = {banned: true}
    const reason = (input.reason ?? "").trim()
    if (reason !== "") params.banReason = reason
    const seconds = Number.parseInt(input.duration ?? "", 10)
    if (Number.isFinite(seconds) && seconds > 0) params.banExpiresIn = seconds
    return params
}

/** An invitation as `list-org-invitations` returns it. */
export interface InvitationRow {
    id: string
    email: string
    role: string
    status: string
    expires: string
    inviter: string
}

/** Pending invitations only (the original lists every status), for the invite dialog. */
export function pendingInvitations(data: unknown): Array<InvitationRow> {
    return extractArray(data, "invitations")
        .filter((i): i is Record<string, unknown> => typeof i === "object" && i !== null && typeof (i as {id?: unknown}).id === "string")
        .filter((i) => i.status === undefined || i.status === "pending")
        .map((i) => {
            const inviter = typeof i.inviter === "object" && i.inviter !== null ? (i.inviter as Record<string, unknown>) : {}
            return {
                id: i.id as string,
                email: typeof i.email === "string" ? i.email : "",
                role: typeof i.role === "string" ? i.role.split(",").join(", ") : "",
                status: typeof i.status === "string" ? i.status : "pending",
                expires: formatDateTime(i.expiresAt as string | undefined),
                inviter: typeof inviter.name === "string" ? inviter.name : typeof inviter.email === "string" ? inviter.email : "—",
            }
        })
}

/** Combobox options for `search-users` results: value = email. */
export function userOptions(data: unknown): Array<{value: string; label: string; description?: string}> {
    return extractArray(data, "users")
        .filter((u): u is Record<string, unknown> => typeof u === "object" && u !== null && typeof (u as {email?: unknown}).email === "string")
        .map((u) => {
            const email = u.email as string
            const name = typeof u.name === "string" && u.name.trim() !== "" ? u.name : null
            return name ? {value: email, label: name, description: email} : {value: email, label: email}
        })
}

/** Combobox options for `get-org-roles`. */
export function roleOptions(data: unknown): Array<{value: string; label: string}> {
    return extractArray(data, "roles")
        .filter((r): r is string => typeof r === "string" && r !== "")
        .map((r) => ({value: r, label: r.charAt(0).toUpperCase() + r.slice(1)}))
}

/** Email options for "create user" from a person's email addresses (deduplicated, lower-cased key). */
export function emailOptions(emails: ReadonlyArray<string | null | undefined>): Array<{value: string; label: string}> {
    const seen = new Set<string>()
    const options: Array<{value: string; label: string}> = []
    for (const raw of emails) {
        const email = (raw ?? "").trim()
        if (email === "" || !email.includes("@") || seen.has(email.toLowerCase())) continue
        seen.add(email.toLowerCase())
        options.push({value: email, label: email})
    }
    return options
}

/** The name `create-user` needs (required there): the person's name, else the email's local part. */
export function userDisplayName(name: string | null | undefined, email: string): string {
    const trimmed = (name ?? "").trim()
    if (trimmed !== "") return trimmed
    const local = email.trim().split("@")[0] ?? ""
    return local === "" ? email.trim() : local
}

/**
 * The impersonation link from the `impersonate` answer, only if it is http(s): the
 * plugin's `url` when it knows its public address, else built from the one-time
 * `sessionToken` and the auth server URL of the connection string (the original's route
 * `GET {base}/attio/impersonation-session?token=...`).
 */
export function impersonationUrl(data: unknown, authServerUrl?: string): string | null {
    const d = typeof data === "object" && data !== null ? (data as Record<string, unknown>) : {}
    let candidate = typeof d.url === "string" ? d.url : typeof d.link === "string" ? d.link : null
    if (candidate === null && typeof d.sessionToken === "string" && d.sessionToken !== "" && authServerUrl) {
        candidate = `${authServerUrl}/attio/impersonation-session?token=${encodeURIComponent(d.sessionToken)}`
    }
    if (candidate === null) return null
    try {
        const url = new URL(candidate)
        return url.protocol === "https:" || url.protocol === "http:" ? url.toString() : null
    } catch {
        return null
    }
}

function extractArray(data: unknown, key: string): Array<unknown> {
    if (Array.isArray(data)) return data
    if (typeof data === "object" && data !== null) {
        const value = (data as Record<string, unknown>)[key]
        if (Array.isArray(value)) return value
    }
    return []
}
