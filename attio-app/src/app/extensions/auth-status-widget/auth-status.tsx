import {Badge, useAsyncCache, Widget} from "attio/client"
import {Suspense} from "react"

import {currentActorEmail} from "../../../client/actor"
import {WidgetFailure} from "../../../client/widget-states"
import {banStateText, userDetails} from "../../../lib/format"
import getUserDetails from "../../../server/user-details.server"

async function loadDetails(recordId: string) {
    return getUserDetails({recordId, actorEmail: await currentActorEmail()})
}

function Status({recordId}: {recordId: string}) {
    const {values} = useAsyncCache({outcome: [loadDetails, recordId]})
    const outcome = values.outcome
    if (!outcome.ok) return <WidgetFailure title="Auth status" outcome={outcome} />
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

export default function AuthStatus({recordId}: {recordId: string}) {
    return (
        <Suspense fallback={<Widget.Loading />}>
            <Status recordId={recordId} />
        </Suspense>
    )
}
