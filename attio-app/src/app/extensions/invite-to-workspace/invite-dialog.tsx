import {DialogList, Forms, LoadingState, Section, showDialog, TextBlock, useAsyncCache, useForm} from "attio/client"
import {Suspense} from "react"

import {currentActorEmail} from "../../../client/actor"
import {showOutcomeToast} from "../../../client/toast"
import {pendingInvitations, roleOptions, userOptions} from "../../../lib/format"
import cancelInvitation from "../../../server/cancel-invitation.server"
import createInvitation from "../../../server/create-invitation.server"
import getOrgRoles from "../../../server/get-org-roles.server"
import listInvitations from "../../../server/list-invitations.server"
import searchUsers from "../../../server/search-users.server"

async function loadRoles() {
    return getOrgRoles({actorEmail: await currentActorEmail()})
}

async function loadInvitations(recordId: string) {
    return listInvitations({recordId, actorEmail: await currentActorEmail()})
}

/** Email picker: auth users matching the search, plus the typed text when it is an email. */
const emailSearch = {
    search: async (query: string) => {
        const typed = query.trim()
        const outcome = typed === "" ? null : await searchUsers({search: typed, actorEmail: await currentActorEmail()})
        const found = outcome?.ok ? userOptions(outcome.data) : []
        const isEmail = /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(typed)
        return isEmail && !found.some((o) => o.value.toLowerCase() === typed.toLowerCase())
            ? [{value: typed, label: typed, description: "Invite this email"}, ...found]
            : found
    },
    getOption: async (value: string) => ({label: value}),
}

function Invite({recordId}: {recordId: string}) {
    const {values, invalidate} = useAsyncCache({roles: loadRoles, invitations: [loadInvitations, recordId]})
    const roles = values.roles.ok ? roleOptions(values.roles.data) : []
    const invitations = values.invitations.ok ? pendingInvitations(values.invitations.data) : []
    const {Form, Combobox, SubmitButton} = useForm(
        {email: Forms.string(), role: Forms.string()},
        {email: "", role: roles.find((r) => r.value === "member")?.value ?? roles[0]?.value ?? ""}
    )

    return (
        <>
            <Form
                onSubmit={async ({email, role}) => {
                    const outcome = await createInvitation({recordId, actorEmail: await currentActorEmail(), email, role})
                    await showOutcomeToast("create-org-invitation", outcome)
                    if (outcome.ok) invalidate("invitations")
                }}
            >
                <Combobox label="Email" name="email" options={emailSearch} searchPlaceholder="Search users or type an email" />
                {values.roles.ok ? (
                    <Combobox label="Role" name="role" options={roles} />
                ) : (
                    <TextBlock align="left">{values.roles.message}</TextBlock>
                )}
                <SubmitButton label="Send invitation" />
            </Form>
            <Section title="Pending invitations">
                {values.invitations.ok ? (
                    <DialogList emptyState="No pending invitations">
                        {invitations.map((inv) => (
                            <DialogList.Item
                                key={inv.id}
                                icon="Email"
                                actionLabel="Cancel"
                                suffix={inv.role}
                                onTrigger={async () => {
                                    const outcome = await cancelInvitation({recordId, actorEmail: await currentActorEmail(), invitationId: inv.id})
                                    await showOutcomeToast("cancel-org-invitation", outcome)
                                    if (outcome.ok) invalidate("invitations")
                                }}
                            >
                                {`${inv.email}, invited by ${inv.inviter}, expires ${inv.expires}`}
                            </DialogList.Item>
                        ))}
                    </DialogList>
                ) : (
                    <TextBlock align="left">{values.invitations.message}</TextBlock>
                )}
            </Section>
        </>
    )
}

export default function InviteDialog({recordId}: {recordId: string}) {
    return (
        <Suspense fallback={<LoadingState />}>
            <Invite recordId={recordId} />
        </Suspense>
    )
}

/** Opens the invite dialog (the record action and the invitations widget both use it). */
export async function showInviteDialog(recordId: string): Promise<void> {
    await showDialog({title: "Invite user", Dialog: () => <InviteDialog recordId={recordId} />})
}
