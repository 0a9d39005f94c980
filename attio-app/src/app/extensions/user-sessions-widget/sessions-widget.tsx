import {Badge, useAsyncCache, Widget} from "attio/client"
import {Suspense} from "react"

import {currentActorEmail} from "../../../client/actor"
import {WidgetFailure} from "../../../client/widget-states"
import {sessionSummary} from "../../../lib/format"
import listSessions from "../../../server/list-sessions.server"
import {showSessionsDialog} from "../user-sessions/sessions-dialog"

async function loadSessions(recordId: string) {
    return listSessions({recordId, actorEmail: await currentActorEmail()})
}

function Sessions({recordId}: {recordId: string}) {
    const {values} = useAsyncCache({sessions: [loadSessions, recordId]})
    const outcome = values.sessions
    if (!outcome.ok) return <WidgetFailure title="Sessions" outcome={outcome} />
    const {activeCount, latest, latestImpersonatedBy} = sessionSummary(outcome.data)
    const badge = (
        <Widget.Decoration>
            <Badge color={activeCount > 0 ? "blue" : "grey"}>{`${activeCount} active`}</Badge>
        </Widget.Decoration>
    )
    if (latest === null) {
        return (
            <Widget.TextWidget>
                <Widget.Title>Sessions</Widget.Title>
                {badge}
                <Widget.Text.Primary>No active sessions</Widget.Text.Primary>
                <Widget.Text.Secondary>This user is signed out everywhere.</Widget.Text.Secondary>
            </Widget.TextWidget>
        )
    }
    const impersonated = latestImpersonatedBy ? ` · impersonated by ${latestImpersonatedBy}` : ""
    // The whole widget is the "open sessions" button (a TextWidget's onTrigger).
    return (
        <Widget.TextWidget onTrigger={() => showSessionsDialog(recordId)}>
            <Widget.Title>Sessions</Widget.Title>
            {badge}
            <Widget.Text.Primary>{`Latest: ${latest.summary}`}</Widget.Text.Primary>
            <Widget.Text.Secondary>{`${latest.device} · IP ${latest.ip} · since ${latest.created}${impersonated}`}</Widget.Text.Secondary>
        </Widget.TextWidget>
    )
}

export default function SessionsWidget({recordId}: {recordId: string}) {
    return (
        <Suspense fallback={<Widget.Loading />}>
            <Sessions recordId={recordId} />
        </Suspense>
    )
}
