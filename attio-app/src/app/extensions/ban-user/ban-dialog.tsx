import {Forms, LoadingState, TextBlock, Typography, useAsyncCache, useForm} from "attio/client"
import {Suspense} from "react"

import {currentActorEmail} from "../../../client/actor"
import {showOutcomeToast} from "../../../client/toast"
import {clock} from "../../../lib/clock"
import {BAN_DURATIONS, banEndsText, banStateText, userDetails} from "../../../lib/format"
import updateBanStatus from "../../../server/update-ban-status.server"
import getUserDetails from "../../../server/user-details.server"

async function loadDetails(recordId: string) {
    return getUserDetails({recordId, actorEmail: await currentActorEmail()})
}

function BanForm({recordId, hideDialog}: {recordId: string; hideDialog: () => void}) {
    const {values} = useAsyncCache({outcome: [loadDetails, recordId]})
    const outcome = values.outcome
    const details = outcome.ok ? userDetails(outcome.data) : null
    const state = details ? banStateText(details) : null
    const {Form, TextArea, Combobox, SubmitButton, WithState} = useForm(
        {reason: Forms.string().optional(), duration: Forms.string().optional()},
        {reason: "", duration: "never"}
    )

    if (!outcome.ok) {
        return <TextBlock align="left">{outcome.message}</TextBlock>
    }
    const banned = details?.banned === true

    return (
        <Form
            onSubmit={async (form) => {
                const result = await updateBanStatus({
                    recordId,
                    actorEmail: await currentActorEmail(),
                    banned: !banned,
                    reason: form.reason,
                    duration: form.duration,
                })
                await showOutcomeToast("update-ban-status", result)
                if (result.ok) hideDialog()
            }}
        >
            <Typography.Body variant="strong">{state?.status}</Typography.Body>
            <Typography.Caption>{state?.detail}</Typography.Caption>
            {banned ? null : (
                <>
                    <TextArea label="Reason" name="reason" placeholder="Why is this user banned? Kept with the ban and in the audit log (optional)" />
                    <Combobox label="Expires" name="duration" options={BAN_DURATIONS} placeholder="Never expires" />
                    <WithState values>
                        {({values}) => <Typography.Caption>{banEndsText(values.duration, clock.now())}</Typography.Caption>}
                    </WithState>
                </>
            )}
            <SubmitButton label={banned ? "Unban user" : "Ban user and end their sessions"} />
        </Form>
    )
}

export default function BanDialog(props: {recordId: string; hideDialog: () => void}) {
    return (
        <Suspense fallback={<LoadingState />}>
            <BanForm {...props} />
        </Suspense>
    )
}
