/**
 * Test stand-in for `attio/client` (types only in the package; Attio renders the real
 * components). test/resolve-attio.mjs maps the import here. Each component is a small HTML
 * double so `renderToString` shows the text a person would see; every button-like prop
 * (`onTrigger`, a form's submit) is recorded in `ui` so a test can press it. Dialogs, toasts,
 * confirms and GraphQL queries are recorded too; confirm answers are queued by the test.
 */
import {Children, type ReactNode} from "react"

type Values = Record<string, unknown>

/** A pressable thing seen in the last render: its visible label and what pressing does. */
export interface Trigger {
    label: string
    press: () => Promise<void>
}

export interface Recorded {
    triggers: Array<Trigger>
    dialogs: Array<{title: string; Dialog: (props: {hideDialog: () => void}) => ReactNode}>
    toasts: Array<Record<string, unknown>>
    confirms: Array<Record<string, unknown>>
    confirmAnswers: Array<boolean>
    queries: Array<{query: string; variables: unknown}>
    /** Answers runQuery; by default the current user's email is ACTOR_EMAIL of the test. */
    answerQuery: (query: string, variables: unknown) => unknown
    invalidated: Array<string>
    /** What the person typed or picked, over the form's initial values. */
    formValues: Values
    /** The form's values at the last render (initial values + formValues). */
    lastFormValues: Values
    /** Option providers of comboboxes with a search (by field name). */
    searches: Record<string, {search: (query: string) => Promise<unknown>; getOption: (value: string) => Promise<unknown>}>
}

export const ui: Recorded = {
    triggers: [],
    dialogs: [],
    toasts: [],
    confirms: [],
    confirmAnswers: [],
    queries: [],
    answerQuery: () => ({}),
    invalidated: [],
    formValues: {},
    lastFormValues: {},
    searches: {},
}

/** Clears what the previous test recorded and the async cache. */
export function resetUi(): void {
    ui.triggers.length = 0
    ui.dialogs.length = 0
    ui.toasts.length = 0
    ui.confirms.length = 0
    ui.confirmAnswers.length = 0
    ui.queries.length = 0
    ui.answerQuery = () => ({})
    ui.invalidated.length = 0
    ui.formValues = {}
    ui.lastFormValues = {}
    ui.searches = {}
    cache.clear()
}

/** The trigger whose label contains `text`; fails the test when there is not exactly one. */
export function trigger(text: string): Trigger {
    const found = ui.triggers.filter((t) => t.label.includes(text))
    if (found.length !== 1) {
        throw new Error(`expected one trigger labelled "${text}", found ${found.length} among: ${ui.triggers.map((t) => JSON.stringify(t.label)).join(", ")}`)
    }
    return found[0]
}

function textOf(node: ReactNode): string {
    if (node === null || node === undefined || typeof node === "boolean") return ""
    if (typeof node === "string" || typeof node === "number") return String(node)
    if (Array.isArray(node)) return node.map(textOf).join("")
    return ""
}

function addTrigger(label: string, run: () => unknown): void {
    ui.triggers.push({label, press: async () => void (await run())})
}

// ---- async cache: suspends on first use, answers from the cache once settled ----

interface Entry {
    promise: Promise<unknown>
    done: boolean
    value?: unknown
    error?: unknown
}
const cache = new Map<string, Entry>()
const fnIds = new WeakMap<object, number>()
let nextFnId = 1

function keyFor(name: string, fn: object, args: Array<unknown>): string {
    let id = fnIds.get(fn)
    if (id === undefined) {
        id = nextFnId++
        fnIds.set(fn, id)
    }
    return `${name}#${id}:${JSON.stringify(args)}`
}

/** Waits until every loader started by a render has finished. */
export async function settle(): Promise<void> {
    for (;;) {
        const pending = [...cache.values()].filter((e) => !e.done)
        if (pending.length === 0) return
        await Promise.allSettled(pending.map((e) => e.promise))
    }
}

type Loader = (...args: Array<any>) => Promise<unknown>

export function useAsyncCache(config: Record<string, Loader | [Loader, ...Array<unknown>]>) {
    const values: Record<string, unknown> = {}
    const waiting: Array<Promise<unknown>> = []
    for (const [name, spec] of Object.entries(config)) {
        const [fn, ...args] = Array.isArray(spec) ? spec : [spec]
        const key = keyFor(name, fn, args)
        let entry = cache.get(key)
        if (entry === undefined) {
            const created: Entry = {done: false, promise: Promise.resolve()}
            created.promise = fn(...args).then(
                (value) => {
                    created.done = true
                    created.value = value
                },
                (error: unknown) => {
                    created.done = true
                    created.error = error
                }
            )
            cache.set(key, created)
            entry = created
        }
        if (!entry.done) waiting.push(entry.promise)
        else if (entry.error !== undefined) throw entry.error
        else values[name] = entry.value
    }
    // Like the SDK: suspend until ALL loaders have resolved.
    if (waiting.length > 0) throw Promise.all(waiting)
    return {values: values as any, invalidate: (name: string) => void ui.invalidated.push(name)}
}

// ---- components ----

export function Badge({children, color}: {children: ReactNode; color: string}) {
    return <span data-badge={color}>{children}</span>
}

export function TextBlock({children}: {children: ReactNode; align?: string}) {
    return <p>{children}</p>
}

export function LoadingState({children}: {children?: string}) {
    return <p data-loading="">{children ?? "Loading..."}</p>
}

export const Typography = {
    Body: ({children, variant}: {children: ReactNode; variant?: string}) => <p data-variant={variant ?? "standard"}>{children}</p>,
    Title: ({children}: {children: ReactNode}) => <h2>{children}</h2>,
    Caption: ({children}: {children: ReactNode}) => <small>{children}</small>,
}

export function Section({title, children}: {title: string; description?: string; children?: ReactNode}) {
    return (
        <section>
            <h4>{title}</h4>
            {children}
        </section>
    )
}

function DialogListItem(props: {children: ReactNode; icon: string; actionLabel: string; onTrigger: () => unknown; suffix?: ReactNode}) {
    addTrigger(`${props.actionLabel}: ${textOf(props.children)}`, props.onTrigger)
    return (
        <li>
            {props.children} <span>{props.suffix}</span> <button>{props.actionLabel}</button>
        </li>
    )
}

export const DialogList = Object.assign(
    ({emptyState, children}: {emptyState: string | {text: string}; children: ReactNode}) =>
        Children.count(children) === 0 ? <p>{typeof emptyState === "string" ? emptyState : emptyState.text}</p> : <ul>{children}</ul>,
    {Item: DialogListItem}
)

export const Table = Object.assign(({children}: {children: ReactNode; label?: string}) => <table>{children}</table>, {
    Header: ({children}: {children: ReactNode}) => (
        <thead>
            <tr>{children}</tr>
        </thead>
    ),
    HeaderCell: ({children}: {children: ReactNode}) => <th>{children}</th>,
    Body: ({children}: {children: ReactNode}) => <tbody>{children}</tbody>,
    Row: ({children}: {children: ReactNode}) => <tr>{children}</tr>,
    Cell: ({children}: {children: ReactNode}) => <td>{children}</td>,
})

export const Widget = {
    TextWidget: ({children, onTrigger}: {children: ReactNode; onTrigger?: () => unknown}) => {
        if (onTrigger) addTrigger("widget", onTrigger)
        return <article data-clickable={onTrigger ? "yes" : "no"}>{children}</article>
    },
    Title: ({children}: {children: ReactNode}) => <h3>{children}</h3>,
    Decoration: ({children}: {children: ReactNode}) => <aside>{children}</aside>,
    Loading: () => <p data-loading="">Loading...</p>,
    Text: {
        Primary: ({children}: {children: ReactNode}) => <p>{children}</p>,
        Secondary: ({children}: {children: ReactNode}) => <small>{children}</small>,
    },
}

// ---- forms ----

function chainable(type: string): Record<string, unknown> {
    const value: Record<string, unknown> = {type}
    for (const method of ["optional", "multiline", "default", "maxLength", "minLength", "url"]) value[method] = () => value
    return value
}

export const Forms = {string: () => chainable("string"), number: () => chainable("number"), boolean: () => chainable("boolean")}

type Option = {value: string; label: string; description?: string}

export function useForm(_schema: Values, initialValues: Values) {
    const current = (): Values => ({...initialValues, ...ui.formValues})
    ui.lastFormValues = current()
    let onSubmit: ((values: Values) => unknown) | null = null
    const Form = ({children, onSubmit: submit}: {children: ReactNode; onSubmit: (values: Values) => unknown}) => {
        onSubmit = submit
        return <form>{children}</form>
    }
    const Field = ({label, placeholder}: {label: string; name: string; placeholder?: string}) => (
        <label>
            {label} <input placeholder={placeholder} />
        </label>
    )
    const Combobox = ({label, name, options, placeholder}: {label: string; name: string; options: Array<Option> | {search: (q: string) => Promise<unknown>; getOption: (v: string) => Promise<unknown>}; placeholder?: string}) => {
        if (!Array.isArray(options)) ui.searches[name] = options
        return (
            <label>
                {label} <input placeholder={placeholder} />
                {Array.isArray(options) ? (
                    <ul>
                        {options.map((o) => (
                            <li key={o.value}>{o.label}</li>
                        ))}
                    </ul>
                ) : null}
            </label>
        )
    }
    const SubmitButton = ({label}: {label: string}) => {
        addTrigger(`submit: ${label}`, () => {
            if (onSubmit === null) throw new Error("SubmitButton outside a Form")
            return onSubmit(current())
        })
        return <button type="submit">{label}</button>
    }
    const WithState = ({children}: {children: (state: {values: Values; submitting: boolean; errors: Record<string, string>}) => ReactNode}) => (
        <>{children({values: current(), submitting: false, errors: {}})}</>
    )
    return {Form, TextInput: Field, TextArea: Field, Combobox, SubmitButton, WithState, submit: () => undefined, change: () => undefined}
}

// ---- imperative APIs ----

export async function showDialog(options: {title: string; Dialog: (props: {hideDialog: () => void}) => ReactNode}): Promise<void> {
    ui.dialogs.push(options)
}

export async function showToast(options: Record<string, unknown>) {
    ui.toasts.push(options)
    return {hideToast: async () => undefined, updateToast: async () => undefined, upsertToast: async () => undefined}
}

export async function confirm(options: Record<string, unknown>): Promise<boolean> {
    ui.confirms.push(options)
    const answer = ui.confirmAnswers.shift()
    if (answer === undefined) throw new Error("the test queued no answer for confirm()")
    return answer
}

export async function runQuery(query: string, variables?: unknown): Promise<unknown> {
    ui.queries.push({query, variables})
    return ui.answerQuery(query, variables)
}

export const Extensions = {
    defineExtension<T>(extension: T): T {
        return extension
    },
}
