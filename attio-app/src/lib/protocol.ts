/**
 * The app's side of "Contract: Attio app -> app-backend": the action names, the JSON body,
 * and the response shapes. Everything here is plain data; no I/O.
 */

/** Plugin actions the app triggers (the route's last segment and the body's `action`). */
export type PluginAction =
    | "user-details"
    | "update-ban-status"
    | "send-password-reset"
    | "sessions"
    | "revoke-session"
    | "revoke-all-sessions"
    | "impersonate"
    | "list-org-invitations"
    | "create-org-invitation"
    | "cancel-org-invitation"
    | "search-users"
    | "get-org-roles"
    | "create-user"
    | "create-organization"

/** Lifecycle actions, answered by app-backend itself. */
export type LifecycleAction = "connection-check" | "uninstall"

export type ActionName = PluginAction | LifecycleAction

/** Who in Attio triggered the action, for the backend's audit log. */
export interface Actor {
    email: string | null
    workspaceMemberId: string | null
}

/** The Attio record an action is about. */
export interface Target {
    object: string
    recordId: string
}

/** One call: exactly one of `target`/`targets` (or neither for pickers and lifecycle). */
export interface ActionRequest {
    action: ActionName
    actor: Actor
    target?: Target
    targets?: Array<Target>
    params?: Record<string, unknown>
    /**
     * Free text the person gave for the action (a ban's reason), for the backend's audit
     * log. Not a plugin parameter: it sits beside `actor`, outside `params`.
     */
    reason?: string
}

/** Per-record outcome of a bulk action. */
export interface BulkResult {
    /** null when one plugin call covered several records (revoke-all-sessions batches). */
    recordId: string | null
    ok: boolean
    message: string
}

/** What a server function hands back to the UI: JSON-serializable, never a thrown error. */
export type ActionOutcome<T = unknown> =
    | {ok: true; message: string; data: T; results?: Array<BulkResult>}
    | {ok: false; code: string; message: string; status?: number; results?: Array<BulkResult>}

/**
 * The exact body bytes that get signed and sent. Keys are always in the same order so a
 * test (or a person reading logs) sees stable output; `params` is always an object;
 * `reason` (audit free text) comes last and only when there is one.
 */
export function buildBody(request: ActionRequest): string {
    const body: Record<string, unknown> = {action: request.action, actor: request.actor}
    if (request.target !== undefined) body.target = request.target
    if (request.targets !== undefined) body.targets = request.targets
    body.params = request.params ?? {}
    if (request.reason !== undefined) body.reason = request.reason
    return JSON.stringify(body)
}

/** `POST {backendUrl}/v1/actions/{action}`. */
export function actionUrl(backendUrl: string, action: ActionName): string {
    return `${backendUrl}/v1/actions/${action}`
}

/**
 * The hosted app-backend, used when the workspace did not set its own backend URL.
 * Placeholder under the reserved `.example` domain until the hosted backend has its domain:
 * set it here before `attio version create` (see README), or per workspace in the settings.
 */
export const DEFAULT_BACKEND_URL = "https://backend.attio-auth.example"

/**
 * The backend URL from the app's one setting: blank means the hosted backend; otherwise an
 * http(s) URL without a trailing slash. Returns an error sentence for a bad value.
 */
export function resolveBackendUrl(setting: string | null | undefined): {url: string} | {error: string} {
    const raw = (setting ?? "").trim()
    if (raw === "") return {url: DEFAULT_BACKEND_URL}
    let url: URL
    try {
        url = new URL(raw)
    } catch {
        return {
            error: `The backend URL in this app's settings ("${raw}") is not a valid URL. Fix it in the app's settings, or clear it to use the hosted backend.`,
        }
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") {
        return {
            error: `The backend URL in this app's settings must start with https:// (it is "${raw}").`,
        }
    }
    if (url.search !== "" || url.hash !== "") {
        return {error: `The backend URL in this app's settings must not have a query or fragment ("${raw}").`}
    }
    return {url: `${url.origin}${url.pathname}`.replace(/\/+$/, "")}
}
