// Which process of a -workers tree writes the kubernetes plugin's shared copy of the cluster: the
// leader holds the segment's memfd open (a follower closes its fd once it has mapped it).
import { readdirSync, readlinkSync } from 'node:fs';

/** Whether `pid` holds a memfd segment of the cluster copy open. */
export function holdsSegment(pid: number): boolean {
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`).includes('memfd:typedns-cluster');
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}
