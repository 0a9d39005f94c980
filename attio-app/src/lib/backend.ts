/**
 * One signed call to app-backend. Builds the body, signs the exact bytes, sends them, and
 * turns every answer (success, JSON error, non-JSON error, network failure, timeout, bad
 * connection string) into an ActionOutcome with a sentence a person can read in a toast.
 */
import {ConnectionStringError, decodeConnectionString} from "./connection"
import {defaultSuccessMessage, notInstalledMessage} from "./messages"
import {
    type ActionOutcome,
    type ActionRequest,
    type BulkResult,
    actionUrl,
    buildBody,
    resolveBackendUrl,
} from "./protocol"
import {HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, signedHeaders} from "./signing"

/** Attio kills a server function after 30 s; give up a little before so we can say why. */
export const REQUEST_TIMEOUT_MS = 25_000

/** Where and as whom to call. */
export interface BackendContext {
    /** The app setting's raw value (null or blank = hosted backend). */
    backendUrlSetting: string | null | undefined
    /** The Attio workspace id (header `attio-workspace-id`). */
    workspaceId: string
    /** The workspace connection's value: the connection string. */
    connectionString: string
    timeoutMs?: number
    nowMs?: () => number
}

/** The fetch arguments of one signed call, before it is sent (exposed for tests). */
export interface PreparedRequest {
    /** The backend's base URL (the setting, or the hosted one), for sentences naming it. */
    backendUrl: string
    url: string
    body: string
    headers: Record<string, string>
}

/** Builds and signs the request; throws ConnectionStringError or returns an error sentence. */
export async function prepareRequest(
    context: BackendContext,
    request: ActionRequest
): Promise<PreparedRequest | {error: ActionOutcome<never>}> {
    const backend = resolveBackendUrl(context.backendUrlSetting)
    if ("error" in backend) return {error: {ok: false, code: "BAD_BACKEND_URL", message: backend.error}}
    const connection = decodeConnectionString(context.connectionString)
    const body = buildBody(request)
    const signed = await signedHeaders(connection.secret, body, (context.nowMs ?? Date.now)())
    return {
        backendUrl: backend.url,
        url: actionUrl(backend.url, request.action),
        body,
        headers: {
            "content-type": "application/json",
            accept: "application/json",
            "attio-workspace-id": context.workspaceId,
            [HEADER_ID]: signed.id,
            [HEADER_TIMESTAMP]: signed.timestamp,
            [HEADER_SIGNATURE]: signed.signature,
        },
    }
}

/** Sends one action to app-backend and never throws: every failure becomes `{ok: false}`. */
export async function callBackend<T = unknown>(
    context: BackendContext,
    request: ActionRequest
): Promise<ActionOutcome<T>> {
    let prepared: PreparedRequest
    try {
        const result = await prepareRequest(context, request)
        if ("error" in result) return result.error
        prepared = result
    } catch (error) {
        if (error instanceof ConnectionStringError) {
            return {ok: false, code: error.code, message: error.message}
        }
        return {ok: false, code: "SIGNING_FAILED", message: "The request could not be signed in this environment."}
    }

    // AbortController is web-standard; if a runtime lacked it, Attio's own 30 s limit applies.
    const controller = typeof AbortController === "function" ? new AbortController() : null
    const timeoutMs = context.timeoutMs ?? REQUEST_TIMEOUT_MS
    const timer = setTimeout(() => controller?.abort(), timeoutMs)
    let response: Response
    try {
        response = await fetch(prepared.url, {
            method: "POST",
            headers: prepared.headers,
            body: prepared.body,
            signal: controller?.signal,
        })
    } catch {
        clearTimeout(timer)
        if (controller?.signal.aborted) {
            return {
                ok: false,
                code: "TIMEOUT",
                message: `The attio-auth backend did not answer within ${seconds(timeoutMs)}. Try again in a moment.`,
            }
        }
        return {
            ok: false,
            code: "UNREACHABLE",
            message: `Could not reach the attio-auth backend at ${new URL(prepared.url).origin}. Check the backend URL in this app's settings.`,
        }
    }

    let text: string
    try {
        text = await response.text()
    } catch {
        text = ""
    } finally {
        clearTimeout(timer)
    }
    return interpretResponse<T>(request.action, response.status, text, prepared.backendUrl)
}

/**
 * Turns a backend answer into an outcome (exposed for tests of odd answers). `backendUrl`
 * (the backend called) lets a `NOT_INSTALLED` answer say where to install: its console.
 */
export function interpretResponse<T>(action: string, status: number, text: string, backendUrl?: string): ActionOutcome<T> {
    let json: unknown
    try {
        json = text === "" ? undefined : JSON.parse(text)
    } catch {
        json = undefined
    }
    const body = typeof json === "object" && json !== null ? (json as Record<string, unknown>) : undefined

    const results = body !== undefined && Array.isArray(body.results) ? body.results.filter(isBulkResult).map(pickBulkResult) : undefined
    if (status >= 200 && status < 300 && body !== undefined && !Array.isArray(json) && body.ok === false && results !== undefined) {
        // A bulk call where no record succeeded: the backend answers 200 with per-record
        // results. Show the record's own reason when there is one.
        const failed = results.filter((r) => !r.ok)
        const summary = typeof body.message === "string" && body.message.trim() !== "" ? body.message : "The action failed."
        const message = failed.length === 1 || (failed.length > 0 && failed.every((r) => r.message === failed[0].message)) ? failed[0].message : summary
        return {ok: false, code: "ALL_FAILED", message, status, results}
    }
    if (status >= 200 && status < 300) {
        if (body === undefined || Array.isArray(json) || body.ok !== true) {
            return {
                ok: false,
                code: "BAD_RESPONSE",
                message: `The attio-auth backend gave an answer this app cannot read (HTTP ${status}).`,
                status,
            }
        }
        const message = typeof body.message === "string" && body.message.trim() !== "" ? body.message : defaultSuccessMessage(action)
        const outcome: ActionOutcome<T> = {ok: true, message, data: (body.data ?? null) as T}
        if (results !== undefined) outcome.results = results
        return outcome
    }

    const error = body !== undefined && typeof body.error === "object" && body.error !== null ? (body.error as Record<string, unknown>) : undefined
    const code = typeof error?.code === "string" ? error.code : `HTTP_${status}`
    if (code === "NOT_INSTALLED" && backendUrl !== undefined) {
        return {ok: false, code, message: notInstalledMessage(backendUrl), status}
    }
    const message =
        typeof error?.message === "string" && error.message.trim() !== ""
            ? error.message
            : fallbackErrorMessage(status)
    return {ok: false, code, message, status}
}

function seconds(ms: number): string {
    const n = Math.max(1, Math.ceil(ms / 1000))
    return n === 1 ? "1 second" : `${n} seconds`
}

function isBulkResult(value: unknown): value is BulkResult {
    if (typeof value !== "object" || value === null) return false
    const v = value as Record<string, unknown>
    return (typeof v.recordId === "string" || v.recordId === null || v.recordId === undefined) && typeof v.ok === "boolean" && typeof v.message === "string"
}

/** Only the fields the app uses, so server functions return exactly the documented shape. */
function pickBulkResult(r: BulkResult): BulkResult {
    return {recordId: r.recordId ?? null, ok: r.ok, message: r.message}
}

/** A sentence for an error answer without a readable message. */
export function fallbackErrorMessage(status: number): string {
    if (status === 401) {
        return "The attio-auth backend did not accept this app's signature (HTTP 401). Reconnect the app with a fresh connection string."
    }
    if (status === 403) return "The attio-auth backend refused this action (HTTP 403)."
    if (status === 404) return "The attio-auth backend does not know this action or workspace (HTTP 404). Check the backend URL in this app's settings."
    if (status === 429) return "The attio-auth backend is busy (HTTP 429). Try again in a moment."
    if (status >= 500) return `The attio-auth backend failed (HTTP ${status}). Try again later.`
    return `The attio-auth backend refused the request (HTTP ${status}).`
}
