import {DialogList, LoadingState, showDialog, Table, TextBlock, useAsyncCache} from "attio/client"
import {Suspense} from "react"

import {currentActorEmail} from "../../../client/actor"
import {showOutcomeToast} from "../../../client/toast"
import {sessionRows} from "../../../lib/format"
import listSessions from "../../../server/list-sessions.server"
import revokeSession from "../../../server/revoke-session.server"

async function loadSessions(recordId: string) {
    return listSessions({recordId, actorEmail: await currentActorEmail()})
}

function Sessions({recordId}: {recordId: string}) {
    const {values, invalidate} = useAsyncCache({outcome: [loadSessions, recordId]})
    const outcome = values.outcome
    if (!outcome.ok) return <TextBlock align="left">{outcome.message}</TextBlock>
    const rows = sessionRows(outcome.data)
    if (rows.length === 0) return <TextBlock align="left">This user has no active sessions.</TextBlock>

    return (
        <>
            <Table label="Active sessions, newest first">
                <Table.Header>
                    <Table.HeaderCell>Device</Table.HeaderCell>
                    <Table.HeaderCell>Browser</Table.HeaderCell>
                    <Table.HeaderCell>IP</Table.HeaderCell>
                    <Table.HeaderCell>Created</Table.HeaderCell>
                    <Table.HeaderCell>Expires</Table.HeaderCell>
                    <Table.HeaderCell>Impersonated by</Table.HeaderCell>
                </Table.Header>
                <Table.Body>
                    {rows.map((row) => (
                        <Table.Row key={row.id}>
                            <Table.Cell>{row.device}</Table.Cell>
                            <Table.Cell>{row.browser}</Table.Cell>
                            <Table.Cell>{row.ip}</Table.Cell>
                            <Table.Cell>{row.created}</Table.Cell>
                            <Table.Cell>{row.expires}</Table.Cell>
                            <Table.Cell>{row.impersonatedBy}</Table.Cell>
                        </Table.Row>
                    ))}
                </Table.Body>
            </Table>
            <DialogList emptyState="No sessions">
                {rows.map((row) => (
                    <DialogList.Item
                        key={row.id}
                        icon="LogOut"
                        actionLabel="Revoke"
                        suffix={row.ip}
                        onTrigger={async () => {
                            const result = await revokeSession({recordId, actorEmail: await currentActorEmail(), sessionId: row.id})
                            await showOutcomeToast("revoke-session", result)
                            if (result.ok) invalidate("outcome")
                        }}
                    >
                        {`${row.summary}, since ${row.created}`}
                    </DialogList.Item>
                ))}
            </DialogList>
        </>
    )
}

export default function SessionsDialog({recordId}: {recordId: string}) {
    return (
        <Suspense fallback={<LoadingState />}>
            <Sessions recordId={recordId} />
        </Suspense>
    )
}

/** Opens the sessions dialog (the record action and the sessions widget both use it). */
export async function showSessionsDialog(recordId: string): Promise<void> {
    await showDialog({title: "Sessions", Dialog: () => <SessionsDialog recordId={recordId} />})
}
