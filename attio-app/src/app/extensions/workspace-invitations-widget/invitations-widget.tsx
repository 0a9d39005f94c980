import {Badge, useAsyncCache, Widget} from "attio/client"
import {Suspense} from "react"

import {currentActorEmail} from "../../../client/actor"
import {WidgetFailure} from "../../../client/widget-states"
import {invitationSummary} from "../../../lib/format"
import listInvitations from "../../../server/list-invitations.server"
import {showInviteDialog} from "../invite-to-workspace/invite-dialog"

async function loadInvitations(recordId: string) {
    return listInvitations({recordId, actorEmail: await currentActorEmail()})
}

function Invitations({recordId}: {recordId: string}) {
    const {values} = useAsyncCache({invitations: [loadInvitations, recordId]})
    const outcome = values.invitations
    if (!outcome.ok) return <WidgetFailure title="Pending invitations" outcome={outcome} />
    const {pendingCount, latest} = invitationSummary(outcome.data)
    // The whole widget is the "invite" button (a TextWidget's onTrigger), also when empty.
    return (
        <Widget.TextWidget onTrigger={() => showInviteDialog(recordId)}>
            <Widget.Title>Pending invitations</Widget.Title>
            <Widget.Decoration>
                <Badge color={pendingCount > 0 ? "blue" : "grey"}>{`${pendingCount} pending`}</Badge>
            </Widget.Decoration>
            {latest === null ? (
                <>
                    <Widget.Text.Primary>No pending invitations</Widget.Text.Primary>
                    <Widget.Text.Secondary>Open to invite someone.</Widget.Text.Secondary>
                </>
            ) : (
                <>
                    <Widget.Text.Primary>{`Latest: ${latest.email}`}</Widget.Text.Primary>
                    <Widget.Text.Secondary>{`${latest.role || "no role"} · invited by ${latest.inviter} · expires ${latest.expires}`}</Widget.Text.Secondary>
                </>
            )}
        </Widget.TextWidget>
    )
}

export default function InvitationsWidget({recordId}: {recordId: string}) {
    return (
        <Suspense fallback={<Widget.Loading />}>
            <Invitations recordId={recordId} />
        </Suspense>
    )
}
