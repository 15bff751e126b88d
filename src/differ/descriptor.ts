/** Descriptor is an OCI content descriptor, as the differ returns one. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}
