import {banParams} from "../lib/format"
import type {ActionOutcome} from "../lib/protocol"
import {runAction, userTarget} from "./run-action"

/**
 * Bans (with reason and expiry in seconds, from BAN_DURATIONS) or unbans a user. A ban's
 * reason goes to the plugin (`params.banReason`) and to the backend's audit log (the
 * body's top-level `reason`).
 */
export default async function updateBanStatus(input: {
    recordId: string
    actorEmail: string | null
    banned: boolean
    reason?: string
    duration?: string
}): Promise<ActionOutcome> {
    const params = banParams(input)
    const reason = typeof params.banReason === "string" ? params.banReason : undefined
    return runAction(
        {action: "update-ban-status", target: userTarget(input.recordId), params, ...(reason === undefined ? {} : {reason})},
        input.actorEmail
    )
}
