/**
 * Words shown to people: default success sentences (when the backend sends none) and the
 * toast for an outcome. The backend's own message always wins.
 */
import type {ActionOutcome} from "./protocol"

const SUCCESS: Record<string, string> = {
    "user-details": "Loaded the user's status.",
    "update-ban-status": "Updated the user's ban status.",
    "send-password-reset": "Sent a password reset email.",
    sessions: "Loaded the user's sessions.",
    "revoke-session": "Revoked the session.",
    "revoke-all-sessions": "Revoked all sessions.",
    impersonate: "Impersonation link ready.",
    "list-org-invitations": "Loaded the invitations.",
    "create-org-invitation": "Sent the invitation.",
    "cancel-org-invitation": "Canceled the invitation.",
    "search-users": "Found users.",
    "get-org-roles": "Loaded the roles.",
    "create-user": "Created the user.",
    "create-organization": "Created the workspace.",
    "connection-check": "Connected to the auth server.",
    uninstall: "Disconnected from the auth server.",
}

/**
 * Shown when the workspace has no connection yet (the SDK has none to hand over): where a
 * workspace admin pastes the connection string.
 */
export const NOT_CONNECTED_MESSAGE =
    "This app is not connected to an auth server yet: connect it in Workspace settings → Apps (paste the connection string from the attio-auth generator)."

/**
 * Shown when app-backend has no installation for this workspace (`NOT_INSTALLED`): the
 * backend's console, `{backendUrl}/console`, is where a person installs it.
 */
export function notInstalledMessage(backendUrl: string): string {
    return `This Attio workspace is not installed on the attio-auth backend yet. Open ${backendUrl}/console to install it with the same connection string, then try again.`
}

/** The sentence for a success answer that carried no message. */
export function defaultSuccessMessage(action: string): string {
    return SUCCESS[action] ?? "Done."
}

/** A toast (`showToast` options) for an outcome: the backend's sentence as the text. */
export interface ToastSpec {
    variant: "success" | "error"
    title: string
    text: string
}

/** Toast titles per action: [success, failure]. The text is always the backend's sentence. */
const TITLES: Record<string, [string, string]> = {
    "user-details": ["User status", "Could not load the user's status"],
    "update-ban-status": ["Ban status updated", "Could not update the ban status"],
    "send-password-reset": ["Password reset sent", "Could not send the password reset"],
    sessions: ["Sessions", "Could not load the sessions"],
    "revoke-session": ["Session revoked", "Could not revoke the session"],
    "revoke-all-sessions": ["Sessions revoked", "Could not revoke the sessions"],
    impersonate: ["Impersonation started", "Could not impersonate the user"],
    "list-org-invitations": ["Invitations", "Could not load the invitations"],
    "create-org-invitation": ["Invitation sent", "Could not send the invitation"],
    "cancel-org-invitation": ["Invitation canceled", "Could not cancel the invitation"],
    "search-users": ["Users", "Could not search users"],
    "get-org-roles": ["Roles", "Could not load the roles"],
    "create-user": ["User created", "Could not create the user"],
    "create-organization": ["Workspace created", "Could not create the workspace"],
    "connection-check": ["Connected", "Could not connect"],
    uninstall: ["Disconnected", "Could not disconnect"],
}

/** The toast for an action's outcome: a title for the action, the backend's message as text. */
export function toastFor(action: string, outcome: ActionOutcome<unknown>): ToastSpec {
    const [success, failure] = TITLES[action] ?? ["Done", "Something went wrong"]
    return outcome.ok
        ? {variant: "success", title: success, text: outcome.message}
        : {variant: "error", title: failure, text: outcome.message}
}

/** Summary of a bulk run: counts of records done and failed, first failure's message. */
export function bulkSummary(
    outcomes: Array<ActionOutcome<unknown>>,
    recordsPerOutcome: Array<number>
): ToastSpec {
    let done = 0
    let failed = 0
    let firstFailure: string | null = null
    outcomes.forEach((outcome, index) => {
        const size = recordsPerOutcome[index] ?? 0
        if (!outcome.ok) {
            failed += size
            firstFailure ??= outcome.message
            return
        }
        const results = outcome.results ?? []
        const bad = results.filter((r) => !r.ok)
        failed += bad.length
        done += size - bad.length
        if (bad.length > 0) firstFailure ??= bad[0].message
    })
    const plural = (n: number) => (n === 1 ? "user" : "users")
    if (failed === 0) {
        return {variant: "success", title: "Sessions revoked", text: `Revoked all sessions of ${done} ${plural(done)}.`}
    }
    return {
        variant: "error",
        title: "Some sessions were not revoked",
        text: `Revoked the sessions of ${done} ${plural(done)}; ${failed} failed: ${firstFailure ?? "unknown error"}`,
    }
}
