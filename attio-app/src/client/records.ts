/** Record facts the dialogs need, read with Attio's GraphQL (schema shipped in `attio`). */
import {runQuery} from "attio/client"

const PERSON = "query personForUser($id: String!) { person(id: $id) { name { full_name } email_addresses } }"
const COMPANY = "query companyForOrg($id: String!) { company(id: $id) { name } }"

export async function personEmailsAndName(recordId: string): Promise<{name: string | null; emails: Array<string>}> {
    const result = await runQuery<{id: string}, {person?: {name?: {full_name?: string | null} | null; email_addresses?: Array<string>} | null}>(
        PERSON,
        {id: recordId}
    )
    return {name: result.person?.name?.full_name ?? null, emails: result.person?.email_addresses ?? []}
}

export async function companyName(recordId: string): Promise<string | null> {
    const result = await runQuery<{id: string}, {company?: {name?: string | null} | null}>(COMPANY, {id: recordId})
    return result.company?.name ?? null
}
