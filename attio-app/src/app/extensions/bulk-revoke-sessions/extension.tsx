import {confirm, Extensions, showToast} from "attio/client"

import {currentActorEmail} from "../../../client/actor"
import {bulkSummary} from "../../../lib/messages"
import type {ActionOutcome} from "../../../lib/protocol"
import revokeAllSessions from "../../../server/revoke-all-sessions.server"

/** Records per backend call: small enough to finish well inside Attio's 30 s server limit. */
const BATCH_SIZE = 50

export default Extensions.defineExtension({
    type: "bulk-record-action",
    id: "bulk-revoke-sessions",
    label: "Sign out everywhere",
    icon: "LogOut",
    objects: "users",
    onTrigger: async ({runRecordBatches}) => {
        const ok = await confirm({
            title: "End all sessions of the selected users?",
            text: "They are signed out on every device.",
            confirmLabel: "Sign out everywhere",
            confirmVariant: "destructive",
        })
        if (!ok) return
        const actorEmail = await currentActorEmail()
        const outcomes: Array<ActionOutcome<unknown>> = []
        const sizes: Array<number> = []
        await runRecordBatches(
            {
                batchSize: BATCH_SIZE,
                onStart: ({totalRecords}) => ({title: "Signing users out", text: `0 of ${totalRecords} users`}),
                onProgress: ({processedRecords, totalRecords}) => ({
                    title: "Signing users out",
                    text: `${processedRecords} of ${totalRecords} users`,
                }),
            },
            async (batch) => {
                // Failures are collected, not thrown, so one bad batch does not stop the rest.
                const outcome = await revokeAllSessions({recordIds: batch.recordIds, actorEmail})
                outcomes.push(outcome)
                sizes.push(batch.recordIds.length)
                return outcome
            }
        )
        await showToast({...bulkSummary(outcomes, sizes), durationMs: 8_000})
    },
})
