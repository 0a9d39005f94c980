import {banParams} from "../lib/format"
import type {ActionOutcome} from "../lib/protocol"
import {runAction, userTarget} from "./run-action"

/** Bans (with reason and expiry in seconds, from BAN_DURATIONS) or unbans a user. */
export default async function updateBanStatus(input: {
    recordId: string
    actorEmail: string | null
    banned: boolean
    reason?: string
    duration?: string
}): Promise<ActionOutcome> {
    return runAction(
        {action: "update-ban-status", target: userTarget(input.recordId), params: banParams(input)},
        input.actorEmail
    )
}
