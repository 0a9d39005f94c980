/**
 * The app's clock, one place to read "now" from, so tests can set the time (the ban dialog
 * shows when a ban would end) instead of depending on the machine's clock.
 */
export const clock = {
    now: (): number => Date.now(),
}
