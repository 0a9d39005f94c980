/**
 * A small user-agent reader for the sessions dialog: enough to tell "Chrome 120 on macOS"
 * from "Safari on iPhone". Not a full parser; unknown agents are shown as they are.
 */

export interface UserAgentInfo {
    browser: string
    os: string
    device: "Desktop" | "Mobile" | "Tablet" | "Bot" | "Unknown"
}

const BROWSERS: Array<[RegExp, string]> = [
    [/Edg(?:e|A|iOS)?\/(\d+)/, "Edge"],
    [/OPR\/(\d+)/, "Opera"],
    [/SamsungBrowser\/(\d+)/, "Samsung Internet"],
    [/Firefox\/(\d+)/, "Firefox"],
    [/FxiOS\/(\d+)/, "Firefox"],
    [/CriOS\/(\d+)/, "Chrome"],
    [/Chrome\/(\d+)/, "Chrome"],
    [/Version\/(\d+)[\d.]* (?:Mobile\/\S+ )?Safari\//, "Safari"],
    [/curl\/(\d+)/, "curl"],
    [/PostmanRuntime\/(\d+)/, "Postman"],
    [/node-fetch|undici|axios\/(\d+)/, "Script"],
]

/** Reads browser, OS and device kind from a user agent string ("" means unknown). */
export function parseUserAgent(userAgent: string | null | undefined): UserAgentInfo {
    const ua = (userAgent ?? "").trim()
    if (ua === "") return {browser: "Unknown browser", os: "Unknown OS", device: "Unknown"}

    let browser = "Unknown browser"
    for (const [pattern, name] of BROWSERS) {
        const match = pattern.exec(ua)
        if (match) {
            browser = match[1] ? `${name} ${match[1]}` : name
            break
        }
    }

    let os = "Unknown OS"
    if (/Windows NT/.test(ua)) os = "Windows"
    else if (/iPhone|iPod/.test(ua)) os = "iOS"
    else if (/iPad/.test(ua)) os = "iPadOS"
    else if (/Android/.test(ua)) os = "Android"
    else if (/CrOS/.test(ua)) os = "ChromeOS"
    else if (/Mac OS X|Macintosh/.test(ua)) os = "macOS"
    else if (/Linux/.test(ua)) os = "Linux"

    let device: UserAgentInfo["device"] = "Desktop"
    if (/bot|crawler|spider|curl\/|PostmanRuntime|node-fetch|undici|axios/i.test(ua)) device = "Bot"
    else if (/iPad|Tablet/.test(ua) || (/Android/.test(ua) && !/Mobile/.test(ua))) device = "Tablet"
    else if (/Mobi|iPhone|iPod/.test(ua)) device = "Mobile"
    else if (os === "Unknown OS" && browser === "Unknown browser") device = "Unknown"

    return {browser, os, device}
}

/** One line for a table cell: "Chrome 120 on macOS" (or the raw agent when unknown). */
export function describeUserAgent(userAgent: string | null | undefined): string {
    const info = parseUserAgent(userAgent)
    if (info.device === "Unknown") {
        const raw = (userAgent ?? "").trim()
        return raw === "" ? "Unknown device" : raw.slice(0, 60)
    }
    if (info.os === "Unknown OS") return info.browser
    return `${info.browser} on ${info.os}`
}
