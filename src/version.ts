/** The library version, recorded in every saved tuning module and report. */
export const version = '0.1.0';
