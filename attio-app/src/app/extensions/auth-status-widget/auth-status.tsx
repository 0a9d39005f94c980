import {Badge, useAsyncCache, Widget} from "attio/client"

import {currentActorEmail} from "../../../client/actor"
import {banStateText, userDetails} from "../../../lib/format"
import getUserDetails from "../../../server/user-details.server"

async function loadDetails(recordId: string) {
    return getUserDetails({recordId, actorEmail: await currentActorEmail()})
}

export default function AuthStatus({recordId}: {recordId: string}) {
    const {values} = useAsyncCache({outcome: [loadDetails, recordId]})
    const outcome = values.outcome
    if (!outcome.ok) {
        return (
            <Widget.TextWidget>
                <Widget.Title>Auth status</Widget.Title>
                <Widget.Text.Secondary>{outcome.message}</Widget.Text.Secondary>
            </Widget.TextWidget>
        )
    }
    const details = userDetails(outcome.data)
    const state = banStateText(details)
    return (
        <Widget.TextWidget>
            <Widget.Title>Auth status</Widget.Title>
            <Widget.Decoration>
                <Badge color={state.color}>{details.banned ? "Banned" : "Active"}</Badge>
            </Widget.Decoration>
            <Widget.Text.Primary>{state.status}</Widget.Text.Primary>
            <Widget.Text.Secondary>{`Role: ${details.role ?? "none"} · ${state.detail}`}</Widget.Text.Secondary>
        </Widget.TextWidget>
    )
}
